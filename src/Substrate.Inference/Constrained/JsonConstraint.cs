using Substrate.Inference.Serving;

namespace Substrate.Inference.Constrained;

/// <summary>
/// Constrained decoding to JSON valid against a <see cref="JsonSchemaNode"/>: at each step the allowed tokens are
/// those whose text keeps the document valid (a walk of the vocabulary trie with the <see cref="JsonState"/>);
/// generation ends when the document is complete.
/// </summary>
public sealed class JsonConstraint(JsonTokenTable table, JsonSchemaNode schema) : ITokenConstraint
{
    private JsonState state = JsonState.Start(schema);

    public bool IsComplete => state.IsComplete;

    public void Allowed(bool[] allowed) => Walk(table.Root, state, allowed);

    private static void Walk(JsonTokenTable.Node node, JsonState state, bool[] allowed)
    {
        foreach (var (c, child) in node.Children)
        {
            if (state.Feed(c) is not { } next) continue;
            foreach (var id in child.Ids) allowed[id] = true;
            if (!next.IsComplete) Walk(child, next, allowed);
        }
    }

    public void Advance(int id) =>
        state = state.Feed(table.Texts[id]) ?? throw new InvalidOperationException($"token {id} ({table.Texts[id]}) breaks the JSON constraint");
}
