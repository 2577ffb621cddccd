using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

/// <summary>libtorch loads on this machine (the GLIBCXX load fix applied by the build) and autograd works.</summary>
public class TorchLoadTests
{
    [Fact]
    public void MatmulAndBackwardRun()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 }, requires_grad: true);
        var b = tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
        var product = a.matmul(b); // [[19, 22], [43, 50]]
        Assert.Equal(new float[] { 19, 22, 43, 50 }, product.data<float>().ToArray());
        product.sum().backward();
        // d(sum(a @ b))/da = ones @ b^T: each row is the row sums of b.
        Assert.Equal(new float[] { 11, 15, 11, 15 }, a.grad!.data<float>().ToArray());
    }
}
