using System.Text.Json;
using Microsoft.Agents.AI;
using Substrate.IO;

namespace Substrate.Agents;

/// <summary>
/// Conversation memory across runs (<c>substrate agent --session &lt;file&gt;</c>): the Agent Framework's own
/// <see cref="AgentSession"/> (its chat history: goals, tool calls and results, answers), serialized by the agent to a
/// JSON file, written atomically, and read back by the next run. A missing file starts a new session.
/// </summary>
public static class AgentSessionFile
{
    public static async Task<AgentSession> LoadAsync(AIAgent agent, string path, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(path)) return await agent.CreateSessionAsync(cancellationToken);
        JsonElement state;
        try
        {
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(path, cancellationToken));
            state = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"session file {path} is not JSON: {e.Message}", e);
        }
        return await agent.DeserializeSessionAsync(state, cancellationToken: cancellationToken);
    }

    public static async Task SaveAsync(AIAgent agent, AgentSession session, string path, CancellationToken cancellationToken = default)
    {
        var state = await agent.SerializeSessionAsync(session, cancellationToken: cancellationToken);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(state, new JsonSerializerOptions { WriteIndented = true }));
    }
}
