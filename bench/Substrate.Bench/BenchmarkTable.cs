namespace Substrate.Bench;

/// <summary>Name → benchmark. Each writes JSON lines to stdout.</summary>
public static class BenchmarkTable
{
    public static readonly IReadOnlyDictionary<string, Action> All = new Dictionary<string, Action>
    {
        ["tokenizer-encode"] = TokenizerBenchmarks.Encode,
        ["tokenizer-train"] = TokenizerBenchmarks.Train,
        ["train"] = TrainBenchmark.Run,
        ["decode-vs-llamacpp"] = DecodeVsLlamaCppBenchmark.Run,
        ["quantize-vs-llamacpp"] = QuantizeVsLlamaCppBenchmark.Run,
        ["real-size-vs-llamacpp"] = RealSizeBenchmark.Run,
        ["quantized-decode"] = QuantizedDecodeBenchmark.Run,
        ["quantized-real-size"] = QuantizedRealSizeBenchmark.Run,
        ["serve-quantized"] = ServeQuantizedBenchmark.Run,
        ["quantized-kernels"] = QuantizedKernelsBenchmark.Run,
        ["matmul-peak"] = MatmulPeakBenchmark.Run,
        ["decode"] = DecodeBenchmark.Run,
        ["decode-families"] = DecodeFamiliesBenchmark.Run,
        ["forward-backward"] = ForwardBackwardBenchmark.Run,
        ["serve"] = ServeBenchmark.Run,
        ["serve-soak"] = ServeSoakBenchmark.Run,
        ["rag-embed"] = RagEmbedBenchmark.Run,
        ["rag-scale"] = RagScaleBenchmark.Run,
        ["qlora"] = QloraBenchmark.Run,
        ["moe-vs-dense"] = MoeVsDenseBenchmark.Run,
        ["allreduce"] = AllReduceBenchmark.Run,
    };
}
