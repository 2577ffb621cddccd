using Microsoft.Extensions.AI;
using Substrate.Agents.Tools;
using Substrate.IO;

namespace Substrate.Agents.Evaluation;

/// <summary>What <see cref="ToolTaskFiles.WriteAsync"/> wrote.</summary>
public sealed record ToolTaskFilesResult(string Directory, int LookupEntries, int TrainChats, int ValidationChats, int HeldOutTasks)
{
    public string Summary => $"{LookupEntries:N0} lookup entries, {TrainChats:N0} training chats, {ValidationChats:N0} validation chats, "
        + $"{HeldOutTasks:N0} held-out tasks → {Directory}";
}

/// <summary>
/// The tool-use data set on disk: <c>lookup.tsv</c> (the table the <c>lookup:</c> tool reads), <c>train.jsonl</c> and
/// <c>validation.jsonl</c> (fine-tuning chats, <see cref="ToolTaskChat"/>; validation is the last twentieth of the training
/// tasks), <c>heldout.jsonl</c> (agent tasks for <c>substrate agent eval</c>, other numbers and keys than training).
/// </summary>
public static class ToolTaskFiles
{
    public const string LookupFile = "lookup.tsv", TrainFile = "train.jsonl", ValidationFile = "validation.jsonl", HeldOutFile = "heldout.jsonl";

    public static async Task<ToolTaskFilesResult> WriteAsync(IReadOnlyList<string> corpusFiles, string directory, ToolTaskOptions options,
        string? instructions = null, CancellationToken cancellationToken = default)
    {
        var table = ToolTaskCorpus.Build(corpusFiles);
        var (train, heldOut) = ToolTaskSet.Generate(table, options);
        IReadOnlyList<AIFunction> tools = [BuiltInTools.Calculator(), BuiltInTools.Lookup(table)];
        var system = instructions ?? AgentOptions.DefaultInstructions;
        var chats = new List<string>(train.Count);
        foreach (var task in train) chats.Add(await ToolTaskChat.RecordAsync(task, tools, system, cancellationToken));
        var validation = train.Count < 20 ? 0 : train.Count / 20;
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, LookupFile), table.ToText());
        AtomicFile.WriteAllText(Path.Combine(directory, TrainFile), string.Concat(chats.Take(chats.Count - validation).Select(c => c + "\n")));
        AtomicFile.WriteAllText(Path.Combine(directory, ValidationFile), string.Concat(chats.Skip(chats.Count - validation).Select(c => c + "\n")));
        AgentTaskFile.Write(Path.Combine(directory, HeldOutFile), heldOut.Select(t => t.Task));
        return new ToolTaskFilesResult(directory, table.Count, chats.Count - validation, validation, heldOut.Count);
    }
}
