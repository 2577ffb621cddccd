using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Data.Instructions;

/// <summary>Token ids of one example and which of them are targets (completion / assistant tokens).</summary>
public sealed record SupervisedExample(int[] Ids, bool[] Train, string Source);

/// <summary>
/// Turns instruction records into token ids with a loss mask. Chats are rendered with the model's
/// <see cref="ChatFormat"/> (its chat template, or for a template-less base the "User: …/Assistant: …" transcript);
/// every assistant turn is found by rendering incrementally — the text up to its generation prompt, then the
/// text through the turn — and each piece is encoded on its own, so the prompt tokens are exactly those the
/// model sees at inference. Prompt/completion pairs are BOS + prompt + completion + EOS, loss on completion + EOS.
/// </summary>
public sealed class SupervisedEncoder
{
    private readonly ITokenizer tokenizer;

    public SupervisedEncoder(ITokenizer tokenizer, TokenizerConfig config)
    {
        this.tokenizer = tokenizer;
        Format = new ChatFormat(tokenizer, config);
    }

    /// <summary>How chats are rendered and encoded; serving uses the same format.</summary>
    public ChatFormat Format { get; }

    public bool UsesChatTemplate => Format.UsesChatTemplate;

    public ChatTemplate Template => Format.Template;

    /// <summary>Encodes rendered template text: special-token strings become their ids, nothing is added.</summary>
    public int[] EncodeRendered(string text) => Format.Encode(text);

    public SupervisedExample Encode(InstructionRecord record) => record switch
    {
        PromptCompletionRecord pc => EncodePromptCompletion(pc),
        ChatRecord chat => EncodeChat(chat),
        _ => throw new ArgumentException(record.GetType().Name),
    };

    private SupervisedExample EncodePromptCompletion(PromptCompletionRecord r)
    {
        var prompt = tokenizer.Encode(r.Prompt, addSpecialTokens: true);
        var completion = tokenizer.Encode(r.Completion).ToList();
        if (tokenizer.Special.Eos is int eos) completion.Add(eos);
        if (completion.Count == 0) throw new InvalidDataException($"{r.Source}: the completion encodes to no tokens");
        return new SupervisedExample([.. prompt, .. completion], [.. prompt.Select(_ => false), .. completion.Select(_ => true)], r.Source);
    }

    /// <summary>In the transcript a turn ends where the model writes a stop string ("\nUser:", "\nTool:"): when one
    /// follows the turn (its "\n" is the turn's last character), the rest of it is a target too, so the model learns to
    /// end a tool call or an answer before the next message. Templates end turns with a token inside the turn: 0.</summary>
    private int StopAfter(string full, int end)
    {
        if (UsesChatTemplate || end == 0) return 0;
        var stop = Format.StopStrings.FirstOrDefault(s => string.CompareOrdinal(full, end - 1, s, 0, s.Length) == 0);
        return stop is null ? 0 : stop.Length - 1;
    }

    private SupervisedExample EncodeChat(ChatRecord r)
    {
        string Render(int count, bool generationPrompt)
        {
            try { return Format.Render(r.Messages.Take(count).ToList(), generationPrompt, r.Tools); }
            catch (ChatTemplateException e) { throw new InvalidDataException($"{r.Source}: the chat template rejects this chat: {e.Message}"); }
        }

        var full = Render(r.Messages.Count, false);
        var spans = new List<(int Start, int End)>();
        for (int i = 0; i < r.Messages.Count; i++)
        {
            if (r.Messages[i].Role != "assistant") continue;
            string before = Render(i, true), through = Render(i + 1, false);
            if (!through.StartsWith(before, StringComparison.Ordinal) || !full.StartsWith(through, StringComparison.Ordinal))
                throw new InvalidDataException($"{r.Source}: the chat template does not render turn by turn "
                    + $"(the text before assistant turn {i} is not a prefix of the chat), so assistant tokens cannot be located");
            spans.Add((before.Length, through.Length + StopAfter(full, through.Length)));
        }
        var ids = new List<int>();
        var train = new List<bool>();
        void Add(string text, bool target)
        {
            var piece = EncodeRendered(text);
            ids.AddRange(piece);
            train.AddRange(Enumerable.Repeat(target, piece.Length));
        }
        int at = 0;
        foreach (var (start, end) in spans)
        {
            Add(full[at..start], false);
            Add(full[start..end], true);
            at = end;
        }
        Add(full[at..], false);
        if (!UsesChatTemplate && tokenizer.Special.Eos is int eos) { ids.Add(eos); train.Add(true); } // the transcript has no end-of-turn token
        if (!train.Contains(true)) throw new InvalidDataException($"{r.Source}: the assistant turns encode to no tokens");
        return new SupervisedExample(ids.ToArray(), train.ToArray(), r.Source);
    }
}
