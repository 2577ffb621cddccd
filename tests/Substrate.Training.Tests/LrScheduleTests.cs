namespace Substrate.Training.Tests;

public class LrScheduleTests
{
    [Fact]
    public void WarmsUpLinearlyThenDecaysAlongACosineToTheMinimum()
    {
        var schedule = new LrSchedule(Lr: 1e-3, MinLr: 1e-4, WarmupSteps: 10, MaxSteps: 110);
        Assert.Equal(1e-4, schedule.At(0), 15);          // (0+1)/10 · lr
        Assert.Equal(5e-4, schedule.At(4), 15);
        Assert.Equal(1e-3, schedule.At(9), 15);          // warmup ends at the peak
        Assert.Equal(1e-3, schedule.At(10), 15);         // cosine starts at the peak
        Assert.Equal(5.5e-4, schedule.At(60), 15);       // halfway: min + ½(lr − min)
        Assert.Equal(1e-4 + 0.5 * (1 + Math.Cos(Math.PI * 0.25)) * 9e-4, schedule.At(35), 15);
        Assert.Equal(1e-4, schedule.At(110), 15);
        Assert.Equal(1e-4, schedule.At(1000), 15);
    }

    [Fact]
    public void NoWarmupStartsAtThePeak()
    {
        var schedule = new LrSchedule(1.0, 0.0, 0, 4);
        Assert.Equal([1.0, 0.5 * (1 + Math.Cos(Math.PI / 4)), 0.5, 0.5 * (1 + Math.Cos(3 * Math.PI / 4)), 0.0],
            Enumerable.Range(0, 5).Select(i => schedule.At(i)).ToArray());
    }
}
