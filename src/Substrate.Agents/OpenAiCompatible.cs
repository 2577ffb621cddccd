using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Substrate.Agents;

/// <summary>An <see cref="IChatClient"/> for any OpenAI-compatible endpoint (<c>substrate serve</c> included), through
/// Microsoft.Extensions.AI.OpenAI: the loop needs nothing more.</summary>
public static class OpenAiCompatible
{
    /// <param name="endpoint">The API's base URL, e.g. http://127.0.0.1:8080/v1.</param>
    public static IChatClient ChatClient(Uri endpoint, string? apiKey, string model) =>
        new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(apiKey is { Length: > 0 } ? apiKey : "none"),
            new OpenAIClientOptions { Endpoint = endpoint }).AsIChatClient();
}
