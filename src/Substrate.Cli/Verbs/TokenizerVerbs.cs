using System.CommandLine;
using System.Text.Json;
using Substrate.Tokenizers;
using Substrate.Tokenizers.Training;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate tokenizer train | encode | decode | template</c>.</summary>
public static class TokenizerVerbs
{
    public static Command Build() => new("tokenizer", "Train, apply and inspect tokenizers.")
    {
        BuildTrain(), BuildEncode(), BuildDecode(), BuildTemplate(),
    };

    static Command BuildTrain()
    {
        var input = new Option<string[]>("--input")
        {
            Description = "Text files or folders (.txt, .jsonl with a \"text\" field, .gz of either).",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var vocabSize = new Option<int>("--vocab-size")
        {
            Description = "Vocabulary size, 256 byte tokens and the special tokens included.",
            DefaultValueFactory = _ => 8192,
        };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Never merge a pair seen fewer times.", DefaultValueFactory = _ => 2 };
        var pattern = new Option<string>("--pattern")
        {
            Description = "Pre-tokenizer: llama3 (default), gpt2, or words (words, digits, punctuation and spaces apart: "
                + "a word is the same tokens after a space or a quote, which small models copying into tool calls need).",
            DefaultValueFactory = _ => "llama3",
        };
        var noChatTemplate = new Option<bool>("--no-chat-template")
        {
            Description = "Reserve only BOS, EOS and pad (no chat header tokens, no chat_template): a model pretrained on it is "
                + "template-less, its chats render as the User:/Assistant: transcript (tools described one line each).",
        };
        var output = new Option<string>("--out") { Description = "Folder for tokenizer.json and tokenizer_config.json.", Required = true };
        var command = new Command("train", "Train a byte-level BPE tokenizer (GPT-2 / Llama 3 family) and save it as a Hugging Face tokenizer.json.")
        {
            input, vocabSize, minFrequency, pattern, noChatTemplate, output,
        };
        command.SetAction((ParseResult parsed) =>
        {
            var options = new BpeTrainerOptions
            {
                VocabSize = parsed.GetValue(vocabSize), MinFrequency = parsed.GetValue(minFrequency),
                Pattern = Tokenizers.Bpe.PreTokenizerPatterns.Named(parsed.GetValue(pattern)!),
                SpecialTokens = parsed.GetValue(noChatTemplate)
                    ? BpeTrainerOptions.DefaultSpecialTokens.Take(3).ToList() // BOS, EOS, pad: no header tokens → no chat_template
                    : BpeTrainerOptions.DefaultSpecialTokens,
            };
            var result = Train(parsed.GetValue(input)!, options, parsed.GetValue(output)!);
            Terminal.Info(Spectre.Console.Markup.Escape($"tokenizer: {result.Summary}"));
            return 0;
        });
        return command;
    }

    /// <summary>Trains, saves and measures a tokenizer under a progress line.</summary>
    static BpeCorpusTrainingResult Train(IReadOnlyList<string> inputs, BpeTrainerOptions options, string outputDirectory)
    {
        if (options.VocabSize < 256 + options.SpecialTokens.Count)
            throw new ArgumentException($"--vocab-size must be at least {256 + options.SpecialTokens.Count} "
                + $"(256 bytes + {options.SpecialTokens.Count} special tokens), got {options.VocabSize}");
        return Terminal.WithProgress("tokenizer", report => BpeCorpusTraining.Run(inputs, options with
        {
            Progress = p => { var (status, fraction) = BpeCorpusTraining.Status(p); report(status, fraction); },
        }, outputDirectory));
    }

    static Command BuildEncode()
    {
        var tokenizerPath = new Option<string>("--tokenizer")
        {
            Description = "tokenizer.json, a folder holding one, or a .tiktoken rank file.",
            Required = true,
        };
        var text = new Option<string?>("--text") { Description = "Text to encode (default: all of stdin)." };
        var addSpecial = new Option<bool>("--add-special") { Description = "Match special-token strings and add BOS as the tokenizer's post-processor does." };
        var command = new Command("encode", "Print the token ids of a text as one JSON array.") { tokenizerPath, text, addSpecial };
        command.SetAction((ParseResult parsed) =>
        {
            var tokenizer = TokenizerLoader.Load(parsed.GetValue(tokenizerPath)!);
            string input = parsed.GetValue(text) ?? Console.In.ReadToEnd();
            Console.Out.WriteLine(JsonSerializer.Serialize(tokenizer.Encode(input, parsed.GetValue(addSpecial))));
            return 0;
        });
        return command;
    }

    static Command BuildTemplate() => TemplateVerb.Build();

    static Command BuildDecode()
    {
        var tokenizerPath = new Option<string>("--tokenizer")
        {
            Description = "tokenizer.json, a folder holding one, or a .tiktoken rank file.",
            Required = true,
        };
        var ids = new Option<string>("--ids") { Description = "Token ids as a JSON array, e.g. \"[791, 4062]\".", Required = true };
        var skipSpecial = new Option<bool>("--skip-special") { Description = "Leave special tokens out of the text." };
        var command = new Command("decode", "Print the text of a JSON array of token ids.") { tokenizerPath, ids, skipSpecial };
        command.SetAction((ParseResult parsed) =>
        {
            var tokenizer = TokenizerLoader.Load(parsed.GetValue(tokenizerPath)!);
            int[] values;
            try { values = JsonSerializer.Deserialize<int[]>(parsed.GetValue(ids)!) ?? []; }
            catch (JsonException) { throw new ArgumentException("--ids must be a JSON array of integers, e.g. \"[791, 4062]\""); }
            foreach (int id in values)
                if (id < 0 || id >= tokenizer.VocabSize)
                    throw new ArgumentException($"token id {id} is outside the vocabulary (0..{tokenizer.VocabSize - 1})");
            Console.Out.Write(tokenizer.Decode(values, parsed.GetValue(skipSpecial)));
            Console.Out.Flush();
            return 0;
        });
        return command;
    }
}
