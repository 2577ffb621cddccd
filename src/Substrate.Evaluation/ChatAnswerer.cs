using Substrate.Data.Instructions;
using Substrate.Inference;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Evaluation;

/// <summary>
/// A model's answers to chat turns, rendered exactly as fine-tuning rendered them (<see cref="SupervisedEncoder"/>: the
/// model's chat template, or the "User: …/Assistant: …" transcript of a template-less base). <see cref="Reply"/> generates
/// the assistant turn (it ends at EOS, the template's end-of-turn token, or the transcript's next "User:" line);
/// <see cref="Choose"/> picks, of fixed answers, the one the model finds most likely as the whole assistant turn
/// (zero-shot multiple choice through the chat format, fair to a base model that would not stop by itself).
/// </summary>
public sealed class ChatAnswerer
{
    private static readonly string[] EndOfTurnTokens = ["<|eot_id|>", "<|im_end|>", "<|end|>", "</s>"];
    private readonly LoadedModel loaded;
    private readonly SupervisedEncoder encoder;
    private readonly TokenGenerator generator;
    private readonly HashSet<int> stopIds;

    public ChatAnswerer(LoadedModel loaded)
    {
        this.loaded = loaded;
        encoder = new SupervisedEncoder(loaded.Tokenizer, loaded.TokenizerConfig);
        generator = new TokenGenerator(loaded.Model);
        stopIds = new HashSet<int>(EndOfTurnTokens.Select(loaded.Tokenizer.TokenToId).OfType<int>());
        if (loaded.Tokenizer.Special.Eos is int eos) stopIds.Add(eos);
        if (loaded.Model.Config.EosTokenId is int configEos) stopIds.Add(configEos);
    }

    public bool UsesChatTemplate => encoder.UsesChatTemplate;

    /// <summary>The prompt of <paramref name="messages"/> (ending with a user turn) up to the assistant's generation prompt,
    /// at most <paramref name="window"/> tokens: the oldest user/assistant pairs are removed from the list until it fits
    /// (system messages stay), then the prompt is cut from the left.</summary>
    public int[] Prompt(List<ChatMessage> messages, int window)
    {
        while (true)
        {
            var prompt = encoder.EncodeRendered(encoder.Template.Render(messages, addGenerationPrompt: true, loaded.TokenizerConfig));
            int firstTurn = messages.FindIndex(m => m.Role != "system");
            if (prompt.Length <= window || messages.Count - firstTurn <= 1) return prompt.Length <= window ? prompt : prompt[^window..];
            messages.RemoveRange(firstTurn, Math.Min(2, messages.Count - firstTurn - 1)); // the oldest user/assistant pair
        }
    }

    /// <summary>The assistant's reply to <paramref name="messages"/>, streamed piece by piece to <paramref name="onPiece"/>.</summary>
    public string Reply(List<ChatMessage> messages, GenerationOptions options, Action<string>? onPiece = null)
    {
        if (!UsesChatTemplate) options = options with { StopStrings = [.. options.StopStrings, "\nUser:"] };
        var prompt = Prompt(messages, Math.Max(16, loaded.Model.Config.MaxPositionEmbeddings - options.MaxTokens));
        var reply = new System.Text.StringBuilder();
        var decoder = new IncrementalDecoder(loaded.Tokenizer, options.StopStrings);
        void Emit(string piece) { reply.Append(piece); onPiece?.Invoke(piece); }
        foreach (var id in generator.Generate(prompt, options, new HashSet<int>([.. stopIds, .. options.StopTokenIds])))
        {
            Emit(decoder.Push(id));
            if (decoder.Stopped) break;
        }
        if (!decoder.Stopped) Emit(decoder.Flush());
        return reply.ToString().Trim();
    }

    /// <summary>The index of the answer with the highest log-likelihood as the assistant's whole turn (its text and its
    /// end of turn, the tokens fine-tuning trains), after <paramref name="messages"/>.</summary>
    public int Choose(IReadOnlyList<ChatMessage> messages, IReadOnlyList<string> answers)
    {
        var promptLength = encoder.EncodeRendered(encoder.Template.Render(messages, addGenerationPrompt: true, loaded.TokenizerConfig)).Length;
        var scores = answers.Select(answer =>
        {
            var example = encoder.Encode(new ChatRecord([.. messages, new ChatMessage("assistant", answer)], "choice"));
            return SequenceLikelihood.Sum(loaded.Model, example.Ids, Enumerable.Range(0, example.Ids.Length).Where(t => t >= promptLength && example.Train[t]));
        }).ToList();
        return Enumerable.Range(0, scores.Count).MaxBy(k => scores[k]);
    }
}
