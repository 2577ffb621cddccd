using System.Numerics.Tensors;
using Microsoft.Extensions.AI;

namespace Substrate.Agents.Memory;

/// <summary>
/// Long-term memory: facts written by the <c>remember</c> tool, stored with their embedding in an
/// <see cref="AgentMemoryStore"/>, and recalled by cosine similarity to a query (<see cref="RecallAsync"/>): the
/// <see cref="MemoryRecall"/> context provider gives the best ones to the model before each goal.
/// </summary>
public sealed class FactMemory(AgentMemoryStore store, IEmbeddingGenerator<string, Embedding<float>> embedder, TimeProvider? clock = null)
{
    public const int MaxFactChars = 1000;

    public AgentMemoryStore Store => store;

    public async Task<string> RememberAsync(string fact, CancellationToken cancellationToken = default)
    {
        fact = fact.Trim();
        if (fact.Length == 0) throw new ArgumentException("the fact is empty");
        if (fact.Length > MaxFactChars) throw new ArgumentException($"a fact is at most {MaxFactChars} characters (this one has {fact.Length})");
        var vector = await embedder.GenerateVectorAsync(fact, cancellationToken: cancellationToken);
        store.AddFact(fact, vector.Span, (clock ?? TimeProvider.System).GetUtcNow());
        return $"remembered: {fact}";
    }

    /// <summary>The <paramref name="top"/> facts most similar to <paramref name="query"/>, best first, with their cosine
    /// similarity; facts below <paramref name="minScore"/> are left out.</summary>
    public async Task<List<(string Fact, float Score)>> RecallAsync(string query, int top = 5, float minScore = 0f,
        CancellationToken cancellationToken = default)
    {
        var facts = store.Facts();
        if (facts.Count == 0 || string.IsNullOrWhiteSpace(query)) return [];
        var q = await embedder.GenerateVectorAsync(query, cancellationToken: cancellationToken);
        var scored = new List<(string, float)>();
        foreach (var (_, text, vector) in facts)
        {
            if (vector.Length != q.Length)
                throw new InvalidDataException($"{store.FilePath}: a fact has a {vector.Length}-dimension embedding, the embedder gives {q.Length}");
            var score = TensorPrimitives.CosineSimilarity(q.Span, vector);
            if (score >= minScore) scored.Add((text, score));
        }
        return [.. scored.OrderByDescending(s => s.Item2).Take(top)];
    }

    /// <summary>The <c>remember(fact)</c> tool.</summary>
    public AIFunction RememberTool() => AIFunctionFactory.Create(
        ([System.ComponentModel.Description("One fact worth remembering in later conversations, in a sentence")] string fact,
         CancellationToken cancellationToken = default) => RememberAsync(fact, cancellationToken),
        "remember", "Stores a fact in long-term memory; remembered facts are shown to you in later conversations when they are relevant.");
}
