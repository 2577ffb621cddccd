namespace Substrate.Recipes;

/// <summary>
/// Where a quickstart tells what it is doing; the recipe itself prints nothing. The command line renders it with progress
/// bars and panels on stderr and the generated text on stdout; a program can log it, show it, or ignore it.
/// </summary>
public interface IQuickstartReport
{
    /// <summary>A numbered stage begins (1. tokenizer, 2. data, …).</summary>
    void Stage(int number, string name);

    /// <summary>Runs one long piece of work, which reports its live status and its share done (null: not known) as it goes.</summary>
    T Progress<T>(string title, Func<Action<string, double?>, T> work);

    /// <summary>A line worth keeping: an event or a result, prefixed by its stage (<c>pretrain: …</c>).</summary>
    void Line(string text);

    /// <summary>The configuration a run resolved to, as JSON.</summary>
    void Config(string title, string json);

    /// <summary>Text for the reader, in pieces as it is generated: the sample, the chat turns (each ends with a newline).</summary>
    void Text(string piece);
}
