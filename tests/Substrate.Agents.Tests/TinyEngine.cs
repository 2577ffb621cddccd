using Substrate.Inference.Serving;

namespace Substrate.Agents.Tests;

/// <summary>The tiny model folder (<see cref="TinyModelFolder"/>) loaded for in-process chat and embeddings.</summary>
internal static class TinyEngine
{
    public const int HiddenSize = TinyModelFolder.HiddenSize;

    public static InferenceEngine Create() => InferenceEngine.Load(TinyModelFolder.Path, "tiny");
}
