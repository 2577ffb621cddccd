using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Substrate.Cli.Tests;

/// <summary>
/// A scripted OpenAI-compatible chat endpoint on 127.0.0.1 (HttpListener): request N gets reply N of the script (the
/// last repeats), streamed as chat.completion.chunk events. A reply is text, or a tool call written as
/// <c>name(arguments JSON)</c>. It keeps every request body so a test can read what the agent sent back.
/// </summary>
public sealed class FakeOpenAiEndpoint : IDisposable
{
    readonly HttpListener listener = new();
    readonly string[] script;
    readonly Task serving;

    public FakeOpenAiEndpoint(params string[] script)
    {
        this.script = script;
        var port = FreePort();
        Url = $"http://127.0.0.1:{port}/v1";
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        serving = Task.Run(ServeAsync);
    }

    public string Url { get; }

    public List<string> Requests { get; } = [];

    static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            using var reader = new StreamReader(context.Request.InputStream);
            string reply;
            lock (Requests)
            {
                Requests.Add(reader.ReadToEnd());
                reply = script[Math.Min(Requests.Count - 1, script.Length - 1)];
            }
            context.Response.ContentType = "text/event-stream";
            var body = Encoding.UTF8.GetBytes(string.Concat(Chunks(reply).Select(c => $"data: {c}\n\n")) + "data: [DONE]\n\n");
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    static IEnumerable<string> Chunks(string reply)
    {
        var open = reply.IndexOf('(');
        var isCall = open > 0 && reply.EndsWith(')') && !reply[..open].Contains(' ');
        object delta = isCall
            ? new
            {
                role = "assistant",
                tool_calls = new[]
                {
                    new { index = 0, id = "call_1", type = "function", function = new { name = reply[..open], arguments = reply[(open + 1)..^1] } },
                },
            }
            : new { role = "assistant", content = reply };
        yield return Chunk(delta, null);
        yield return Chunk(new { }, isCall ? "tool_calls" : "stop");
    }

    static string Chunk(object delta, string? finish) => JsonSerializer.Serialize(new
    {
        id = "chatcmpl-fake", @object = "chat.completion.chunk", created = 0, model = "fake",
        choices = new[] { new { index = 0, delta, finish_reason = finish } },
    });

    public void Dispose()
    {
        // Close alone: on Linux, Stop then Close removes the prefix twice, and the second removal re-binds the port to
        // find its (already gone) endpoint listener — "Address already in use" once a parallel test has taken the port.
        listener.Close();
        serving.Wait(TimeSpan.FromSeconds(5));
    }
}
