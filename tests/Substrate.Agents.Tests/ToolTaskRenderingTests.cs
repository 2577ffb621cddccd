using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Substrate.Agents.Evaluation;
using Substrate.Agents.Tools;
using Substrate.Data.Instructions;
using Substrate.Inference;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Agents.Tests;

/// <summary>Train == inference: a tool-use training chat renders, turn by turn, exactly as the live agent loop renders the
/// same conversation through <see cref="SubstrateChatClient"/> — and the targets teach the model to end a call at "\nTool:".</summary>
public class ToolTaskRenderingTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), $"substrate-toolrender-{Guid.NewGuid():N}");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>An engine that records each request and replies with the next scripted text, read back as the real engine
    /// reads it (tool calls through the chat format).</summary>
    sealed class ScriptedEngine(ChatFormat format, Queue<string> replies) : IInferenceEngine
    {
        public List<CompletionRequest> Requests { get; } = [];
        public string BaseModel => "scripted";
        public IReadOnlyList<string> Models => [BaseModel];
        public GenerationDefaults GenerationDefaults => GenerationDefaults.HuggingFace;
        public int Context => 4096;
        public int QueueDepth => 0;
        public int ActiveSequences => 0;

        public async IAsyncEnumerable<CompletionChunk> StreamAsync(CompletionRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
        {
            await Task.Yield();
            Requests.Add(request);
            var text = replies.Dequeue();
            var usage = new CompletionUsage(10, 2);
            if (request.Tools.Count > 0 && format.ParseToolCalls(text, request.Tools) is { } calls)
                yield return new CompletionChunk("", FinishReason: FinishReason.ToolCalls, Usage: usage, ToolCalls: calls);
            else yield return new CompletionChunk(text.Trim(), FinishReason: FinishReason.Eos, Usage: usage);
        }

        public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancellation = default) =>
            throw new NotSupportedException();

        public void Dispose() { }
    }

    [Fact]
    public async Task A_training_chat_renders_as_the_agent_loop_renders_it_and_trains_the_end_of_each_call()
    {
        var table = ToolTaskCorpus.Build([ToolTaskCorpusFile.Write(dir)]);
        var (train, _) = ToolTaskSet.Generate(table, new ToolTaskOptions { Train = 3, HeldOut = 3 });
        var task = train.Single(t => t.Task.Kind == "verses"); // two calls: lookup, then calculator
        IReadOnlyList<AIFunction> tools = [BuiltInTools.Calculator(), BuiltInTools.Lookup(table)];
        var record = (ChatRecord)InstructionFile.Parse(await ToolTaskChat.RecordAsync(task, tools, AgentOptions.DefaultInstructions), "chat");

        var tokenizer = TokenizerLoader.Load(TinyModelFolder.Path);
        var encoder = new SupervisedEncoder(tokenizer, TokenizerConfig.Empty); // template-less: the transcript, as a Substrate base has
        var format = encoder.Format;
        var assistantTurns = Enumerable.Range(0, record.Messages.Count).Where(i => record.Messages[i].Role == "assistant").ToList();
        // What the model wrote in each assistant turn of the training chat, as the format renders it after "Assistant:".
        string Rendered(int count, bool prompt) => format.Render(record.Messages.Take(count).ToList(), prompt, record.Tools);
        var replies = new Queue<string>(assistantTurns.Select(i => Rendered(i + 1, false)[Rendered(i, true).Length..]));
        var offered = record.Tools!;
        Assert.Equal("lookup", Assert.Single(format.ParseToolCalls(replies.Peek(), offered) ?? throw new InvalidOperationException(replies.Peek())).Name);
        var engine = new ScriptedEngine(format, replies);
        // The tools in the task's order, as the evaluation offers them.
        var loop = new AgentLoop(new SubstrateChatClient(engine), task.Task.Tools.Select(n => tools.Single(t => t.Name == n)).ToList());
        var result = await loop.RunAsync(task.Task.Goal);

        Assert.Equal(task.Task.Answer, result.Answer);
        Assert.Equal(2, result.ToolCalls);
        Assert.Equal(assistantTurns.Count, engine.Requests.Count);
        for (int k = 0; k < assistantTurns.Count; k++)
        {
            var live = format.Render(engine.Requests[k].Messages!, true, engine.Requests[k].Tools);
            Assert.Equal(format.Render(record.Messages.Take(assistantTurns[k]).ToList(), true, record.Tools), live);
        }

        // The targets: each call, then the "\nTool:" that ends it (a stop string), and the answer with EOS.
        var example = encoder.Encode(record);
        var targets = tokenizer.Decode(example.Ids.Where((_, i) => example.Train[i]).ToArray());
        Assert.Contains("{\"name\": \"lookup\", \"arguments\": {\"key\":\"", targets);
        Assert.Contains("\"}}\nTool:", targets);
        Assert.Contains("{\"name\": \"calculator\", \"arguments\": {\"expression\":\"", targets);
        Assert.EndsWith(" " + task.Task.Answer + "\n", targets.Replace(tokenizer.Decode([tokenizer.Special.Eos!.Value]), ""));
        Assert.Contains(ChatFormat.TranscriptToolStop, format.StopStrings);
    }
}
