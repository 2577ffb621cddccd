using System.Runtime.Intrinsics;
using Substrate.Nn.Kernels;

namespace Substrate.Nn.Tests;

public class FastExpTests
{
    [Fact]
    public void WithinTwoUlpOfExpOverTheRangeKernelsUse()
    {
        double worst = 0;
        for (int i = 0; i <= 100_000; i++)
        {
            float x = -87f + 175f * i / 100_000; // [−87, 88]
            double exact = Math.Exp(x);
            worst = Math.Max(worst, Math.Abs(FastExp.Exp(x) - exact) / exact);
        }
        Assert.True(worst < 2.4e-7, $"max relative error {worst:E2}"); // 2 ulp of fp32
    }

    [Fact]
    public void EdgesAreInfinityZeroAndNaN()
    {
        var x = Vector256.Create(float.NegativeInfinity, float.PositiveInfinity, float.NaN, -200f, 200f, 0f, 1f, -1f);
        var y = FastExp.Exp(x);
        Assert.Equal(0f, y[0]);
        Assert.Equal(float.PositiveInfinity, y[1]);
        Assert.True(float.IsNaN(y[2]));
        Assert.Equal(0f, y[3]);
        Assert.Equal(float.PositiveInfinity, y[4]);
        Assert.Equal(1f, y[5]);
        Assert.Equal(MathF.E, y[6], 6);
        Assert.Equal(1 / MathF.E, y[7], 6);
    }

    [Fact]
    public void SixteenLanesGiveTheEightLaneResultsBitForBit()
    {
        var inputs = new float[] { float.NegativeInfinity, float.PositiveInfinity, float.NaN, -200f, 200f, 0f, 1f, -1f,
                                   -87.5f, 88.5f, -0.3f, 12.25f, -41f, 3.3e-4f, 70f, -9.75f };
        var wide = FastExp.Exp(Vector512.Create(inputs));
        var low = FastExp.Exp(Vector256.Create(inputs.AsSpan(0, 8)));
        var high = FastExp.Exp(Vector256.Create(inputs.AsSpan(8, 8)));
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(low[i]), BitConverter.SingleToInt32Bits(wide[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(high[i]), BitConverter.SingleToInt32Bits(wide[i + 8]));
        }
    }
}
