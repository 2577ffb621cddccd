using Substrate.Inference.CpuDecode;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Nn.Ggml;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>
/// The batched forward of the CPU decoder over a GGUF file: the multi-row quantized product against one matrix-vector
/// product per row, the chunked prefill against token by token, and rows of several sequences at their own positions in
/// one forward against each sequence alone — all bit for bit, since every row runs the batch-1 arithmetic.
/// </summary>
public class QuantizedBatchTests
{
    /// <summary>Every type with a tiled kernel (and Q4_1, which has none): 26 rows (six whole tiles of four and a tail of
    /// two), 7 inputs, against the batch-1 dot product of each (row, input).</summary>
    [Theory]
    [InlineData("q8_0", WeightFormat.Q8_0)]
    [InlineData("q4_0", WeightFormat.Q4_0)]
    [InlineData("q5_0", WeightFormat.Q5_0)]
    [InlineData("q4_1", WeightFormat.Q4_1)]
    [InlineData("q4_K", WeightFormat.Q4_K)]
    [InlineData("q5_K", WeightFormat.Q5_K)]
    [InlineData("q6_K", WeightFormat.Q6_K)]
    public unsafe void N_rows_through_the_multi_row_product_equal_N_single_products_bit_for_bit(string type, WeightFormat format)
    {
        const int rows = 26, cols = 512, n = 7;
        var random = new Random(5);
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        var block = CpuBlockFormats.For(format);
        var rowBytes = cols / block.Values * block.Bytes;
        var weights = Enumerable.Range(0, rows)
            .SelectMany(_ => GgmlReference.Quantize(type, Enumerable.Range(0, cols).Select(_ => Normal() * 0.05f).ToArray(), rowBytes))
            .ToArray(); // (rows, cols) in blocks
        var x = Enumerable.Range(0, n * cols).Select(_ => Normal() * 3).ToArray(); // (n, cols)
        var product = new float[n * rows];
        fixed (byte* w = weights)
        fixed (float* px = x, py = product)
            CpuQuantMatMul.Multiply(format, w, rows, cols, px, n, py);

        var quantized = new byte[CpuBlockFormats.ActivationBytes(block.Activation, cols)];
        for (var i = 0; i < n; i++)
            fixed (float* px = &x[i * cols])
            fixed (byte* q = quantized, w = weights)
            {
                CpuBlockFormats.QuantizeActivations(block.Activation, px, q, cols);
                for (var r = 0; r < rows; r++)
                {
                    var single = block.Dot(w + r * rowBytes, q, cols / block.Values);
                    Assert.Equal(BitConverter.SingleToInt32Bits(single), BitConverter.SingleToInt32Bits(product[i * rows + r]));
                }
            }
    }

    /// <summary>The families a GGUF file runs in on the CPU decoder (gemma3 and phi3 files are not read by it yet).</summary>
    public static TheoryData<string> Families => ["linear", "qwen2", "qwen3", "mistral"];

    /// <summary>A 97-token prompt (two chunks; past Mistral's window of 96; linear rotary scaling on llama)
    /// prefilled in chunks gives the token-by-token logits bit for bit, and 32 greedy tokens after it are the same.</summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void A_chunked_prefill_equals_token_by_token_in_every_family(string family)
    {
        var config = LlamaCppFamilyTests.Config(family);
        var file = Export(config, GgufFileType.F32);
        var prompt = Enumerable.Range(0, 97).Select(i => (i * 37 + 11) % config.VocabSize).ToArray();
        AssertChunkedEqualsSteps(file, prompt, config.VocabSize, maxLength: 128);
    }

    [Theory]
    [InlineData("llama", GgufFileType.Q4_K_M)]
    [InlineData("qwen2", GgufFileType.Q4_K_M)]
    [InlineData("llama", GgufFileType.Q8_0)]
    public void A_chunked_prefill_over_quantized_blocks_equals_token_by_token(string family, GgufFileType fileType)
    {
        var config = family == "qwen2" ? ModelFamily.Qwen2.Apply(LlamaCppMixTests.Wide) : LlamaCppMixTests.Wide;
        var file = Export(config, fileType);
        var prompt = Enumerable.Range(0, 90).Select(i => (i * 53 + 3) % config.VocabSize).ToArray();
        AssertChunkedEqualsSteps(file, prompt, config.VocabSize, maxLength: 128);
    }

    /// <summary>Slots × context beyond the machine's memory (serve --max-batch/--context too large) are refused with an
    /// argument error before the cache is allocated, not an out-of-memory crash.</summary>
    [Fact]
    public void A_cache_larger_than_memory_is_refused()
    {
        var file = Export(ModelFamily.Qwen2.Apply(LlamaCppMixTests.Wide), GgufFileType.Q4_K_M);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GgufCpuDecoder.Open(file, maxLength: 64, threads: 1, slots: int.MaxValue));
        Assert.Contains("KV cache", e.Message);
    }

    /// <summary>Three sequences in three slots, prefilled apart, then decoded together (each row at its own position) give
    /// each sequence's logits alone, and moving a slot (a scheduler closing a hole) keeps them.</summary>
    [Fact]
    public void Rows_of_several_sequences_in_one_forward_equal_each_sequence_alone()
    {
        var config = ModelFamily.Qwen2.Apply(LlamaCppMixTests.Wide);
        var file = Export(config, GgufFileType.Q4_K_M);
        int[][] prompts = [[5, 9, 200, 31], [7, 7, 7, 100, 12, 3, 400, 1, 2], [44]];
        var vocab = config.VocabSize;
        var alone = prompts.Select(p => Greedy(file, p, 8, vocab)).ToArray();

        using var decoder = GgufCpuDecoder.Open(file, maxLength: 64, threads: 2, slots: 4);
        var logits = new float[vocab];
        var next = new int[3];
        var positions = new int[3];
        for (var s = 0; s < 3; s++)
        {
            decoder.Prefill(s + 1, 0, prompts[s], logits); // slots 1..3
            (next[s], positions[s]) = (LlamaCpp.ArgMax(logits), prompts[s].Length);
        }
        decoder.CopySlot(3, 0, positions[2]); // the third sequence moves to slot 0
        int[] slots = [1, 2, 0];
        var generated = prompts.Select(_ => new List<int>()).ToArray();
        var batchLogits = new float[3 * vocab];
        for (var step = 0; step < 8; step++)
        {
            for (var s = 0; s < 3; s++) generated[s].Add(next[s]);
            decoder.Forward(next, slots, positions, batchLogits);
            for (var s = 0; s < 3; s++)
            {
                next[s] = LlamaCpp.ArgMax(batchLogits.AsSpan(s * vocab, vocab).ToArray());
                positions[s]++;
            }
        }
        for (var s = 0; s < 3; s++) Assert.Equal(alone[s], generated[s]);
    }

    private static string Export(ModelConfig config, GgufFileType fileType)
    {
        var dir = GgufTestModels.CreateFolder(config);
        var file = Path.Combine(dir, $"{fileType}.gguf");
        if (fileType == GgufFileType.F32) GgufExporter.Export(dir, file, GgufFileType.F32);
        else GgufQuantizer.Quantize(dir, file, fileType);
        return file;
    }

    private static void AssertChunkedEqualsSteps(string file, int[] prompt, int vocab, int maxLength)
    {
        using var decoder = GgufCpuDecoder.Open(file, maxLength, threads: 2);
        var stepped = new float[vocab];
        foreach (var token in prompt) decoder.Step(token, stepped);
        var steppedLogits = stepped.ToArray();
        var steppedGreedy = Continue(decoder, stepped, 32);
        decoder.Reset();
        var chunked = new float[vocab];
        decoder.Prefill(prompt, chunked);
        Assert.Equal(prompt.Length, decoder.Length);
        Assert.Equal(steppedLogits.Select(BitConverter.SingleToInt32Bits), chunked.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(steppedGreedy, Continue(decoder, chunked, 32));
    }

    private static int[] Greedy(string file, int[] prompt, int count, int vocab)
    {
        using var decoder = GgufCpuDecoder.Open(file, maxLength: 64, threads: 2);
        var logits = new float[vocab];
        foreach (var token in prompt) decoder.Step(token, logits);
        return Continue(decoder, logits, count);
    }

    /// <summary>count greedy tokens after <paramref name="logits"/>, stepped one at a time.</summary>
    private static int[] Continue(CpuDecoder decoder, float[] logits, int count)
    {
        var tokens = new int[count];
        for (var i = 0; i < count; i++)
        {
            tokens[i] = LlamaCpp.ArgMax(logits);
            if (i + 1 < count) decoder.Step(tokens[i], logits);
        }
        return tokens;
    }
}
