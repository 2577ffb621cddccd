using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>Rows that pack several examples (<see cref="PackedLayout"/>) give each example the logits it has alone.</summary>
public class PackedForwardTests
{
    static readonly long[] A = [1, 5, 9, 33, 2];
    static readonly long[] B = [63, 0, 7, 7, 12, 40, 41];

    static Tensor Alone(LlamaForCausalLM model, long[] ids) => model.call(tensor(ids, [1, ids.Length])); // (1, T, V)

    [Theory]
    [InlineData(AttentionImplementation.Eager)]
    [InlineData(AttentionImplementation.Fused)]
    public void EachPackedExampleHasItsLogitsAlone(AttentionImplementation attention)
    {
        using var model = TinyModels.Create(options: new ModelOptions { Attention = attention });
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Row 0: A, B, 3 padding tokens (a segment of their own); row 1: B, A, padding.
        const int T = 15;
        long pad = 0;
        long[] row0 = [.. A, .. B, pad, pad, pad], row1 = [.. B, .. A, pad, pad, pad];
        long[] seg0 = [.. A.Select(_ => 0L), .. B.Select(_ => 1L), 2, 2, 2], seg1 = [.. B.Select(_ => 0L), .. A.Select(_ => 1L), 2, 2, 2];
        var layout = PackedLayout.FromSegments([.. seg0, .. seg1], 2, T, CPU);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2 }, layout.Positions[0].data<long>().ToArray());
        var packed = model.forward(tensor([.. row0, .. row1], [2, T]), layout); // (2, T, V)

        var a = Alone(model, A);
        var b = Alone(model, B);
        void Same(Tensor expected, Tensor actual, string what) =>
            Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"{what}: max diff {(actual - expected).abs().max().item<float>()}");
        Same(a[0], packed[0].narrow(0, 0, A.Length), "A first");
        Same(b[0], packed[0].narrow(0, A.Length, B.Length), "B after A");
        Same(b[0], packed[1].narrow(0, 0, B.Length), "B first");
        Same(a[0], packed[1].narrow(0, B.Length, A.Length), "A after B");

        // Without the layout, B after A sees A: the logits differ (the test would catch a mask that does nothing).
        var unpacked = model.call(tensor(row0, [1, T]));
        Assert.False(unpacked[0].narrow(0, A.Length, B.Length).allclose(b[0], rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void ASingleSegmentIsTheUnpackedForward()
    {
        using var model = TinyModels.Create(options: new ModelOptions { Attention = AttentionImplementation.Eager });
        using var scope = NewDisposeScope();
        using var ids = TinyModels.Ids(); // (2, 7)
        var layout = PackedLayout.FromSegments(new long[14], 2, 7, CPU);
        var packed = model.forward(ids, layout);
        var plain = model.call(ids);
        Assert.True(packed.allclose(plain, rtol: 0, atol: 1e-5), $"max diff {(packed - plain).abs().max().item<float>()}");
        Assert.Throws<ArgumentException>(() => model.forward(ids, PackedLayout.FromSegments(new long[7], 1, 7, CPU)));
    }
}
