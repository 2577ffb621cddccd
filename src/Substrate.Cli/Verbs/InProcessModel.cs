using Substrate.Inference.Serving;
using Substrate.Models;

namespace Substrate.Cli.Verbs;

/// <summary>A model folder, with one optional LoRA adapter, loaded for in-process chat (<c>agent</c>, <c>mcp</c>): the
/// engine and the model id that picks the adapter ("base:adapter"; null: the base).</summary>
public static class InProcessModel
{
    public static (InferenceEngine Engine, string? ModelId) Load(string folder, string? adapter, ModelOptions options)
    {
        if (adapter is not null && !Directory.Exists(adapter)) throw new DirectoryNotFoundException($"adapter folder not found: {adapter}");
        var name = Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'));
        var engine = InferenceEngine.Load(folder, name, options, adapter is null ? null : [("adapter", adapter)]);
        return (engine, adapter is null ? null : $"{name}:adapter");
    }
}
