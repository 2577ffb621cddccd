using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Data.Instructions;

/// <summary>Token ids of one example and which of them are targets (completion / assistant tokens).</summary>
public sealed record SupervisedExample(int[] Ids, bool[] Train, string Source);

/// <summary>
/// Turns instruction records into token ids with a loss mask. Chats are rendered with the model's chat template
/// (or, for a template-less base, the plain "User: …/Assistant: …" transcript <c>substrate chat</c> uses);
/// every assistant turn is found by rendering incrementally — the text up to its generation prompt, then the
/// text through the turn — and each piece is encoded on its own, so the prompt tokens are exactly those the
/// model sees at inference. Prompt/completion pairs are BOS + prompt + completion + EOS, loss on completion + EOS.
/// </summary>
public sealed class SupervisedEncoder
{
    /// <summary>The transcript format of template-less bases (matches substrate chat's fallback).</summary>
    public const string TranscriptTemplate =
        "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n{% elif m.role == 'user' %}User: {{ m.content }}\n"
        + "{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

    private readonly ITokenizer tokenizer;
    private readonly TokenizerConfig config;
    private readonly ChatTemplate template;
    private readonly int[] addedPrefix; // what Encode(text, addSpecialTokens: true) puts before the text (e.g. BOS)

    public SupervisedEncoder(ITokenizer tokenizer, TokenizerConfig config)
    {
        this.tokenizer = tokenizer;
        this.config = config;
        template = ChatTemplate.From(config) ?? new ChatTemplate(TranscriptTemplate);
        UsesChatTemplate = !string.IsNullOrEmpty(config.ChatTemplate);
        addedPrefix = tokenizer.Encode("", addSpecialTokens: true);
    }

    public bool UsesChatTemplate { get; }

    public ChatTemplate Template => template;

    /// <summary>Encodes rendered template text: special-token strings become their ids, nothing is added.</summary>
    public int[] EncodeRendered(string text)
    {
        if (text.Length == 0) return [];
        var ids = tokenizer.Encode(text, addSpecialTokens: true);
        return ids.AsSpan().StartsWith(addedPrefix) ? ids[addedPrefix.Length..] : ids;
    }

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

    private SupervisedExample EncodeChat(ChatRecord r)
    {
        string Render(int count, bool generationPrompt)
        {
            try { return template.Render(r.Messages.Take(count).ToList(), generationPrompt, config); }
            catch (ChatTemplateException e) { throw new InvalidDataException($"{r.Source}: the chat template rejects this chat: {e.Message}"); }
        }

        var full = Render(r.Messages.Count, false);
        var spans = new List<(int Start, int End)>();
        for (int i = 0; i < r.Messages.Count; i++)
        {
            if (r.Messages[i].Role != "assistant") continue;
            string before = Render(i, true), through = Render(i + 1, false);
            if (!through.StartsWith(before, StringComparison.Ordinal) || !full.StartsWith(through, StringComparison.Ordinal))
                throw new InvalidDataException($"{r.Source}: the chat template does not render turn by turn (the text before assistant turn {i} is not a prefix of the chat), so assistant tokens cannot be located");
            spans.Add((before.Length, through.Length));
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
