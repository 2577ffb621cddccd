using System.CommandLine;
using System.Text.Json;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate tokenizer template</c>: a conversation through a tokenizer folder's own chat_template.</summary>
public static class TemplateVerb
{
    public static Command Build()
    {
        var tokenizerPath = new Option<string>("--tokenizer") { Description = "Folder with tokenizer_config.json (its chat_template).", Required = true };
        var messages = new Option<string>("--messages")
        {
            Description = "JSON file {\"messages\": [...], \"tools\": [...]} in OpenAI / apply_chat_template shape.", Required = true,
        };
        var prompt = new Option<bool>("--add-generation-prompt") { Description = "End with the start of the assistant's reply." };
        var command = new Command("template", "Print exactly the text the model's chat template makes of a conversation.") { tokenizerPath, messages, prompt };
        command.SetAction((ParseResult parsed) =>
        {
            Console.Out.Write(Render(parsed.GetValue(tokenizerPath)!, parsed.GetValue(messages)!, parsed.GetValue(prompt)));
            Console.Out.Flush();
            return 0;
        });
        return command;
    }

    /// <summary>The rendered text; a missing file, a folder without a chat_template, a template the renderer cannot run,
    /// or one that refuses the conversation → one exception whose message names the file.</summary>
    public static string Render(string tokenizer, string messagesFile, bool addGenerationPrompt)
    {
        if (!Directory.Exists(tokenizer) && !File.Exists(tokenizer)) throw new FileNotFoundException($"tokenizer folder not found: {tokenizer}");
        var config = TokenizerLoader.LoadConfig(tokenizer);
        string folder = Directory.Exists(tokenizer) ? tokenizer : Path.GetDirectoryName(Path.GetFullPath(tokenizer))!;
        string configPath = Path.Combine(folder, "tokenizer_config.json");
        if (string.IsNullOrEmpty(config.ChatTemplate)) throw new InvalidDataException($"{configPath} has no chat_template");
        if (!File.Exists(messagesFile)) throw new FileNotFoundException($"messages file not found: {messagesFile}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(messagesFile)); }
        catch (JsonException e) { throw new InvalidDataException($"{messagesFile}: malformed JSON: {e.Message}", e); }
        using var _ = doc;
        var root = doc.RootElement;
        var list = root.ValueKind == JsonValueKind.Array ? root
            : root.ValueKind == JsonValueKind.Object && root.TryGetProperty("messages", out var m) ? m
            : throw new InvalidDataException($"{messagesFile}: expected {{\"messages\": [...]}} or a JSON array of messages");
        var tools = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("tools", out var t) ? t : default;
        try
        {
            return new ChatTemplate(config.ChatTemplate).Render(list, tools, addGenerationPrompt, config);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{configPath}: the chat_template cannot render this conversation: {e.Message}", e);
        }
    }
}
