using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Substrate.Agents.Evaluation;
using Substrate.Agents.Tools;
using Substrate.Data.Instructions;

namespace Substrate.Agents.Tests;

public class ToolTaskSetTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), $"substrate-tooltasks-{Guid.NewGuid():N}");
    readonly LookupTable table;

    public ToolTaskSetTests() => table = ToolTaskCorpus.Build([ToolTaskCorpusFile.Write(dir)]);

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void The_table_holds_first_glosses_without_examples_and_verse_counts()
    {
        Assert.Equal(90, table.Count); // 60 words + 30 chapters; the two-word synset and the sotu document are skipped
        Assert.Equal("a thing numbered 0 in the list", table.Lookup("baa"));
        Assert.Equal("a thing numbered 27 in the list", table.Lookup(" BABX ")); // keys: case and surrounding space do not matter
        Assert.Equal("7 verses", table.Lookup("Genesis 4"));
        Assert.Equal("no entry for 'Exodus 1'", Assert.Throws<ArgumentException>(() => table.Lookup("Exodus 1")).Message);
    }

    [Fact]
    public void Generation_is_deterministic_by_seed_and_held_out_tasks_share_no_number_word_or_chapter_with_training()
    {
        var options = new ToolTaskOptions { Train = 60, HeldOut = 12, Seed = 5 };
        var (train, heldOut) = ToolTaskSet.Generate(table, options);
        var (again, _) = ToolTaskSet.Generate(table, options);
        var (other, _) = ToolTaskSet.Generate(table, options with { Seed = 6 });
        Assert.Equal(train.Select(Line), again.Select(Line));
        Assert.NotEqual(train.Select(Line), other.Select(Line));
        Assert.Equal([20, 20, 20], train.GroupBy(t => t.Task.Kind).Select(g => g.Count()));
        Assert.Equal(12, heldOut.Count);
        Assert.Equal(72, train.Concat(heldOut).Select(t => t.Task.Goal).Distinct().Count());

        var trainInputs = train.SelectMany(Inputs).ToHashSet();
        var heldOutInputs = heldOut.SelectMany(Inputs).ToHashSet();
        Assert.Empty(trainInputs.Intersect(heldOutInputs));
        Assert.All(heldOutInputs, input => Assert.True(ToolTaskSet.IsHeldOut(input), input));
        Assert.All(trainInputs, input => Assert.False(ToolTaskSet.IsHeldOut(input), input));
    }

    static string Line(ToolTask task) => AgentTaskFile.Line(task.Task);

    /// <summary>The numbers, words and chapters a task is made of (what the split keeps apart).</summary>
    static IEnumerable<string> Inputs(ToolTask task) => task.Task.Kind switch
    {
        "arithmetic" => Regex.Matches(task.Task.Goal, @"\d+").Select(m => m.Value),
        "define" => [Regex.Match(task.Task.Goal, @"\b(ba[a-z]+)\b").Value],
        _ => [Regex.Match(task.Task.Goal, @"Genesis \d+").Value, Regex.Match(task.Task.Goal, @"(?<!Genesis )\b\d+\b").Value],
    };

    [Fact]
    public void A_table_file_with_crlf_endings_and_spaced_keys_reads_as_meant()
    {
        var path = Path.Combine(dir, "crlf.tsv");
        File.WriteAllText(path, "Genesis 1\t31 verses\r\n ship \ta boat\r\n");
        var loaded = LookupTable.Load(path);
        Assert.Equal(("31 verses", "a boat"), (loaded.Lookup("genesis 1"), loaded.Lookup("Ship")));
        File.WriteAllText(path, "  \tnothing\n");
        Assert.Contains("crlf.tsv:1: expected key<TAB>value", Assert.Throws<InvalidDataException>(() => LookupTable.Load(path)).Message);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, 5)]
    [InlineData(5, -1)]
    [InlineData(int.MaxValue, 5)]
    [InlineData(5, ToolTaskSet.MaxTasks + 1)]
    public void Task_counts_out_of_range_are_an_argument_error(int train, int heldOut) =>
        Assert.Contains("must be from 0 to", Assert.Throws<ArgumentException>(() =>
            ToolTaskSet.Generate(table, new ToolTaskOptions { Train = train, HeldOut = heldOut })).Message);

    [Fact]
    public async Task Training_chats_hold_the_real_tools_results_and_answer_with_the_last()
    {
        var (train, _) = ToolTaskSet.Generate(table, new ToolTaskOptions { Train = 9, HeldOut = 3 });
        IReadOnlyList<AIFunction> tools = [BuiltInTools.Calculator(), BuiltInTools.Lookup(table)];
        foreach (var task in train)
        {
            var record = (ChatRecord)InstructionFile.Parse(await ToolTaskChat.RecordAsync(task, tools, "Be brief."), "chat");
            Assert.Equal(["system", "user"], record.Messages.Take(2).Select(m => m.Role));
            Assert.Equal(task.Task.Tools, record.Tools!.Select(t => t.Name));
            var calls = record.Messages.Where(m => m.ToolCalls is not null).SelectMany(m => m.ToolCalls!).ToList();
            Assert.Equal(task.Task.Kind == "verses" ? 2 : 1, calls.Count);
            var results = record.Messages.Where(m => m.Role == "tool").ToList();
            for (int i = 0; i < calls.Count; i++)
            {
                var function = tools.Single(t => t.Name == calls[i].Name);
                var arguments = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, object?>>(calls[i].Arguments)!;
                Assert.Equal(ToolGuard.ResultText(await function.InvokeAsync(new AIFunctionArguments(arguments))), results[i].Content);
                Assert.Equal(calls[i].Id, results[i].ToolCallId);
            }
            Assert.Equal(task.Task.Answer, record.Messages[^1].Content);
            Assert.Equal(results[^1].Content, task.Task.Answer);
        }
    }

    [Fact]
    public async Task The_data_set_folder_has_the_table_the_chats_and_held_out_tasks()
    {
        var output = Path.Combine(dir, "set");
        var result = await ToolTaskFiles.WriteAsync([Path.Combine(dir, "train.jsonl")], output, new ToolTaskOptions { Train = 40, HeldOut = 6 });
        Assert.Equal((90, 38, 2, 6), (result.LookupEntries, result.TrainChats, result.ValidationChats, result.HeldOutTasks));
        Assert.Equal(table.ToText(), File.ReadAllText(Path.Combine(output, ToolTaskFiles.LookupFile)));
        Assert.Equal(38, InstructionFile.Read(Path.Combine(output, ToolTaskFiles.TrainFile)).Count);
        var tasks = AgentTaskFile.Read(Path.Combine(output, ToolTaskFiles.HeldOutFile));
        Assert.Equal(6, tasks.Count);
        Assert.Equal(table.Lookup("Genesis 4"), LookupTable.Load(Path.Combine(output, ToolTaskFiles.LookupFile)).Lookup("genesis 4"));
    }
}
