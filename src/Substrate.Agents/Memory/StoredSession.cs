using Microsoft.Agents.AI;

namespace Substrate.Agents.Memory;

/// <summary>
/// A named conversation kept in an <see cref="AgentMemoryStore"/> (<c>substrate agent --session name</c>): opened, its
/// messages are put in the agent's history; after each goal <see cref="Save"/> appends the new ones in one transaction,
/// so a run killed mid-goal leaves the conversation as it was after the last complete goal.
/// </summary>
public sealed class StoredSession
{
    readonly AgentLoop loop;
    readonly AgentMemoryStore store;
    int saved;

    StoredSession(AgentLoop loop, AgentMemoryStore store, string name, AgentSession session, int saved)
    {
        this.loop = loop;
        this.store = store;
        Name = name;
        Session = session;
        this.saved = saved;
    }

    public string Name { get; }

    public AgentSession Session { get; }

    /// <summary>Messages in the conversation so far.</summary>
    public int Count => loop.History.GetMessages(Session).Count;

    public static async Task<StoredSession> OpenAsync(AgentLoop loop, AgentMemoryStore store, string name, CancellationToken cancellationToken = default)
    {
        CheckName(name);
        var session = await loop.Agent.CreateSessionAsync(cancellationToken);
        var messages = store.LoadMessages(name);
        loop.History.SetMessages(session, messages);
        return new StoredSession(loop, store, name, session, messages.Count);
    }

    /// <summary>Appends the messages added since the last save.</summary>
    public void Save()
    {
        var messages = loop.History.GetMessages(Session);
        store.AppendMessages(Name, messages.Skip(saved));
        saved = messages.Count;
    }

    /// <summary>A session name is a word, not a path: letters, digits, '-', '_', '.', up to 100 characters.</summary>
    public static void CheckName(string name)
    {
        if (name.Length is 0 or > 100 || !name.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"session name '{name}' must be 1 to 100 letters, digits, '-', '_' or '.' (a file ending in .json is a session file)");
    }
}
