using static TorchSharp.torch;

namespace Substrate.Nn.Tests;

public class PlainLinearTests
{
    [Fact]
    public void ComputesInTheInputDtypeAndGradientsReachTheFloat32Weight()
    {
        manual_seed(3);
        using var linear = new PlainLinear(8, 4);
        Assert.Equal(new long[] { 4, 8 }, linear.Weight.shape);
        Assert.Equal(["weight"], linear.named_parameters().Select(p => p.name));
        Assert.InRange(linear.Weight.std().item<float>(), 0.01, 0.03);

        using var x = randn(3, 8);
        using var y32 = linear.call(x);
        using var expected = x.matmul(linear.Weight.t());
        Assert.True(y32.allclose(expected, rtol: 0, atol: 1e-6));

        using var xb = x.to(ScalarType.BFloat16);
        using var y16 = linear.call(xb);
        Assert.Equal(ScalarType.BFloat16, y16.dtype);
        y16.to(ScalarType.Float32).sum().backward();
        Assert.Equal(ScalarType.Float32, linear.Weight.grad!.dtype);
        using var expectedGrad = xb.to(ScalarType.Float32).sum([0L]).expand(4, 8);
        Assert.True(linear.Weight.grad.allclose(expectedGrad, rtol: 0, atol: 1e-2));
    }

    [Fact]
    public void FactoryBuildsPlainLinears()
    {
        using var linear = PlainLinearFactory.Instance.Create("model.layers.0.self_attn.q_proj", 16, 32);
        Assert.IsType<PlainLinear>(linear);
        Assert.Equal(new long[] { 32, 16 }, ((PlainLinear)linear).Weight.shape);
    }

    [Fact]
    public void ProcessRuntimeIsOneExplicitCall()
    {
        var before = TorchSharp.torch.get_num_threads();
        try
        {
            ProcessRuntime.Configure(new RuntimeSettings(Threads: 1));
            Assert.Equal(1, TorchSharp.torch.get_num_threads());
            Assert.Equal(new RuntimeSettings(1), ProcessRuntime.Current);
            Assert.Throws<ArgumentException>(() => ProcessRuntime.Configure(new RuntimeSettings(Threads: -1)));
        }
        finally { ProcessRuntime.Configure(new RuntimeSettings(before)); }
    }

    [Fact]
    public void BothMemoryPoliciesAreAcceptedOnLinux()
    {
        Assert.Equal(OperatingSystem.IsLinux(), NativeMemory.ReturnFreedMemory()); // inference verbs
        Assert.Equal(OperatingSystem.IsLinux(), NativeMemory.RetainFreedMemory()); // training, as this test process runs
        Assert.Equal(OperatingSystem.IsLinux(), NativeMemory.RetainFreedMemory()); // idempotent
    }
}
