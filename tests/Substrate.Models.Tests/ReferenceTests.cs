using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>Runs only where /usr/bin/python3 has NumPy (Debian: apt-get install python3-numpy); skipped otherwise.</summary>
public sealed class NumpyFactAttribute : FactAttribute
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<bool> Available = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(Python, "-c \"import numpy\"") { RedirectStandardError = true });
            p!.WaitForExit(10_000);
            return p.ExitCode == 0;
        }
        catch (Exception) { return false; }
    });

    public NumpyFactAttribute()
    {
        if (!Available.Value) Skip = $"{Python} with NumPy is not available (apt-get install python3-numpy)";
    }
}

/// <summary>Cross-check against an independent NumPy float64 implementation reading the saved HF folder.</summary>
public class ReferenceTests
{
    private static string Script([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "Reference", "llama_numpy.py");

    [NumpyFact]
    public void LogitsMatchAnIndependentNumpyImplementation()
    {
        foreach (var (tied, attention) in new[] { (true, AttentionImplementation.Eager), (false, AttentionImplementation.Fused) })
        {
            using var model = TinyModels.Create(TinyModels.Config with { TieWordEmbeddings = tied, RopeTheta = 500 }, new ModelOptions { Attention = attention });
            using (no_grad())
                foreach (var p in model.parameters()) p.mul_(3); // logits of order 1; at ×10 fp32 rounding alone reaches 3e-5 relative
            var dir = TinyModels.Dir();
            ModelFolder.Save(model, dir);
            using var ids = TinyModels.Ids();
            using var logits = model.call(ids);

            var idsJson = JsonSerializer.Serialize(new[] { ids[0].data<long>().ToArray(), ids[1].data<long>().ToArray() });
            var start = new ProcessStartInfo(NumpyFactAttribute.Python) { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Script());
            start.ArgumentList.Add(dir);
            start.ArgumentList.Add(idsJson);
            using var python = Process.Start(start)!;
            var stdout = python.StandardOutput.ReadToEnd();
            var stderr = python.StandardError.ReadToEnd();
            python.WaitForExit();
            Assert.True(python.ExitCode == 0, stderr);
            var reference = JsonSerializer.Deserialize<double[][][]>(stdout)!;

            var actual = logits.data<float>().ToArray();
            var expected = reference.SelectMany(b => b.SelectMany(t => t)).ToArray();
            Assert.Equal(expected.Length, actual.Length);
            var maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e - a) / Math.Max(1, Math.Abs(e))).Max();
            Assert.True(maxDiff < 1e-5, $"tied={tied}: max relative difference {maxDiff}");
        }
    }
}
