using Substrate.Data.Instructions;
using Substrate.Inference;
using Substrate.Models;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Evaluation;

/// <summary>
/// A model's answers to chat turns, rendered exactly as fine-tuning rendered them (the <see cref="ChatFormat"/> of
/// <see cref="SupervisedEncoder"/>: the model's chat template, or the "User: …/Assistant: …" transcript of a template-less
/// base). <see cref="Reply"/> generates the assistant turn (it ends where the chat format ends a turn: EOS, an end-of-turn
/// token, or the transcript's next "User:" line); <see cref="Choose"/> picks, of fixed answers, the one the model finds
/// most likely as the whole assistant turn (zero-shot multiple choice through the chat format, fair to a base model that
/// would not stop by itself).
/// </summary>
public sealed class ChatAnswerer
{
    private readonly LlamaForCausalLM? model; // for Choose; null over a GGUF file on the CPU decoder
    private readonly ModelConfig config;
    private readonly int context;
    private readonly SupervisedEncoder encoder;
    private readonly Generator generator;

    public ChatAnswerer(LoadedModel loaded)
        : this(new Generator(loaded.Model, loaded.Tokenizer), loaded.TokenizerConfig, loaded.Model.Config,
            loaded.Model.Config.MaxPositionEmbeddings, loaded.Model)
    {
    }

    /// <summary>Replies through any <paramref name="generator"/> (a GGUF file's CPU decoder: <c>GgufGenerator</c>) holding
    /// <paramref name="context"/> tokens; <see cref="Choose"/> needs the TorchSharp <paramref name="model"/>.</summary>
    public ChatAnswerer(Generator generator, TokenizerConfig tokenizerConfig, ModelConfig config, int context, LlamaForCausalLM? model = null)
    {
        (this.generator, this.config, this.context, this.model) = (generator, config, context, model);
        encoder = new SupervisedEncoder(generator.Tokenizer, tokenizerConfig);
    }

    public bool UsesChatTemplate => encoder.UsesChatTemplate;

    /// <summary>The chat format replies are rendered and ended with (the one fine-tuning used).</summary>
    public ChatFormat Format => encoder.Format;

    /// <summary>The prompt of <paramref name="messages"/> (ending with a user turn) up to the assistant's generation prompt,
    /// at most <paramref name="window"/> tokens: the oldest user/assistant pairs are removed from the list until it fits
    /// (system messages stay), then the prompt is cut from the left.</summary>
    public int[] Prompt(List<ChatMessage> messages, int window)
    {
        while (true)
        {
            var prompt = Format.EncodePrompt(messages);
            int firstTurn = messages.FindIndex(m => m.Role != "system");
            if (prompt.Length <= window || messages.Count - firstTurn <= 1) return prompt.Length <= window ? prompt : prompt[^window..];
            messages.RemoveRange(firstTurn, Math.Min(2, messages.Count - firstTurn - 1)); // the oldest user/assistant pair
        }
    }

    /// <summary>The assistant's reply to <paramref name="messages"/>, streamed piece by piece to <paramref name="onPiece"/>.</summary>
    public string Reply(List<ChatMessage> messages, GenerationOptions options, Action<string>? onPiece = null)
    {
        var prompt = Prompt(messages, Math.Max(16, context - options.MaxTokens));
        var reply = new System.Text.StringBuilder();
        foreach (var piece in generator.Stream(prompt, options, StopRules.For(config, context, generator.Tokenizer, options, Format)))
        {
            reply.Append(piece);
            onPiece?.Invoke(piece);
        }
        return reply.ToString().Trim();
    }

    /// <summary>The index of the answer with the highest log-likelihood as the assistant's whole turn (its text and its
    /// end of turn, the tokens fine-tuning trains), after <paramref name="messages"/>.</summary>
    public int Choose(IReadOnlyList<ChatMessage> messages, IReadOnlyList<string> answers)
    {
        var promptLength = Format.EncodePrompt(messages).Length;
        var scores = answers.Select(answer =>
        {
            var example = encoder.Encode(new ChatRecord([.. messages, new ChatMessage("assistant", answer)], "choice"));
            var scored = Enumerable.Range(0, example.Ids.Length).Where(t => t >= promptLength && example.Train[t]);
            return SequenceLikelihood.Sum(model ?? throw new NotSupportedException("choosing among answers needs a model folder"), example.Ids, scored);
        }).ToList();
        return Enumerable.Range(0, scores.Count).MaxBy(k => scores[k]);
    }
}
