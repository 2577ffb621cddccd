using Substrate.Models;
using Substrate.Models.Lora;
using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

public class MultiAdapterTests : IDisposable
{
    private static readonly ModelConfig Config = new()
    {
        VocabSize = 258, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        IntermediateSize = 64, MaxPositionEmbeddings = 64, RmsNormEps = 1e-5, TieWordEmbeddings = true,
    };

    private readonly string dir = Directory.CreateTempSubdirectory("substrate-adapters-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Saves a seeded base folder and two adapters with non-zero B (so each changes the output).</summary>
    private (string Base, string A, string B) Folders()
    {
        string baseDir = Path.Combine(dir, "base"), a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
        using (var model = TinyModel.Create()) ModelFolder.Save(model, baseDir);
        using var lora = LoraModel.Load(baseDir);
        lora.AddAdapter("a", new LoraAdapterConfig { R = 4, LoraAlpha = 8, TargetModules = ["q_proj", "v_proj"] }, seed: 1);
        lora.AddAdapter("b", new LoraAdapterConfig { R = 2, LoraAlpha = 2, TargetModules = [LoraAdapterConfig.AllLinear] }, seed: 2);
        using (no_grad())
            foreach (var name in new[] { "a", "b" })
                foreach (var (key, p) in lora.AdapterParameters(name))
                    if (key.Contains("lora_B")) p.normal_(0, 0.5);
        lora.SaveAdapter("a", a);
        lora.SaveAdapter("b", b);
        return (baseDir, a, b);
    }

    private static Tensor Ids() => tensor(new long[] { 1, 72, 101, 108, 108, 111, 44, 32 }, [1, 8]);

    [Fact]
    public void TwoAdaptersEachGiveTheirOwnOutputInInterleavedCallsAndTheBaseStaysUnchanged()
    {
        var (baseDir, a, b) = Folders();
        using var plain = ModelFolder.Load(baseDir);
        using var baseLogits = plain.forward(Ids());

        using var multi = MultiAdapterModel.From(LoraModel.Load(baseDir), new ByteTokenizer());
        multi.LoadAdapter("a", a);
        multi.LoadAdapter("b", b);
        Assert.Equal(["a", "b"], multi.AdapterNames.Order());

        using var onlyA = OneAdapter(baseDir, a);
        using var onlyB = OneAdapter(baseDir, b);
        using var expectA = onlyA.forward(Ids());
        using var expectB = onlyB.forward(Ids());
        Assert.False(expectA.allclose(baseLogits, 1e-3, 1e-3));
        Assert.False(expectB.allclose(expectA, 1e-3, 1e-3));

        for (int round = 0; round < 2; round++)
        {
            using var la = multi.Forward(Ids(), "a");
            using var lb = multi.Forward(Ids(), "b");
            using var l0 = multi.Forward(Ids(), (string?)null);
            Assert.True(la.allclose(expectA, 1e-5, 1e-5));
            Assert.True(lb.allclose(expectB, 1e-5, 1e-5));
            Assert.True(l0.allclose(baseLogits, 1e-5, 1e-5)); // the plain model trains through fused kernels; the LoRA one composes libtorch ops
        }

        // Greedy streams read alternately: each matches its adapter alone.
        var greedy = new GenerationOptions { MaxTokens = 12, Temperature = 0 };
        var soloA = new Generator(onlyA, new ByteTokenizer()).Generate("Hello", greedy);
        var soloB = new Generator(onlyB, new ByteTokenizer()).Generate("Hello", greedy);
        using var ea = multi.Stream("Hello", greedy, "a").GetEnumerator();
        using var eb = multi.Stream("Hello", greedy, "b").GetEnumerator();
        string ta = "", tb = "";
        bool moreA = true, moreB = true;
        while (moreA || moreB)
        {
            if (moreA && (moreA = ea.MoveNext())) ta += ea.Current;
            if (moreB && (moreB = eb.MoveNext())) tb += eb.Current;
        }
        Assert.Equal(soloA, ta);
        Assert.Equal(soloB, tb);
        Assert.NotEqual(ta, tb);
    }

    [Fact]
    public void ABatchMixesAdaptersRowByRow()
    {
        var (baseDir, a, b) = Folders();
        using var multi = MultiAdapterModel.From(LoraModel.Load(baseDir), new ByteTokenizer());
        multi.LoadAdapter("a", a);
        multi.LoadAdapter("b", b);
        using var batch = Ids().repeat(3, 1); // (3, 8)
        using var mixed = multi.Forward(batch, new string?[] { "b", null, "a" });
        using var la = multi.Forward(Ids(), "a");
        using var lb = multi.Forward(Ids(), "b");
        using var l0 = multi.Forward(Ids(), (string?)null);
        Assert.True(mixed[0].allclose(lb[0], 1e-5, 1e-5));
        Assert.True(mixed[1].allclose(l0[0], 1e-5, 1e-5));
        Assert.True(mixed[2].allclose(la[0], 1e-5, 1e-5));
    }

    [Fact]
    public void UnknownAdapterNameIsAClearError()
    {
        var (baseDir, a, _) = Folders();
        using var multi = MultiAdapterModel.From(LoraModel.Load(baseDir), new ByteTokenizer());
        multi.LoadAdapter("a", a);
        var e = Assert.Throws<ArgumentException>(() => multi.Forward(Ids(), "nope"));
        Assert.Contains("no adapter named 'nope'", e.Message);
    }

    private static LlamaForCausalLM OneAdapter(string baseDir, string adapterDir)
    {
        var lora = LoraModel.Load(baseDir);
        lora.LoadAdapter("x", adapterDir);
        lora.Router.Default = new Substrate.Nn.LoraSelection("x");
        lora.Model.eval();
        return lora.Model;
    }
}
