using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

/// <summary>A model folder's generation_config.json decides how it decodes, with Hugging Face's meaning and defaults.</summary>
public class GenerationDefaultsTests
{
    private static string Folder(string? generationConfig)
    {
        var dir = Directory.CreateTempSubdirectory("substrate-genconfig-").FullName;
        if (generationConfig is not null) File.WriteAllText(Path.Combine(dir, "generation_config.json"), generationConfig);
        return dir;
    }

    [Fact]
    public void A_folders_generation_config_gives_the_settings_it_says()
    {
        var dir = Folder("""
            {"do_sample": true, "temperature": 0.7, "top_k": 20, "top_p": 0.9, "repetition_penalty": 1.2, "max_new_tokens": 33,
             "eos_token_id": [5, 6], "num_beams": 1, "transformers_version": "4.46.0"}
            """);
        var options = GenerationDefaults.Load(dir).ToOptions(128);
        Assert.Equal((33, 0.7, 20, 0.9, 1.2), (options.MaxTokens, options.Temperature, options.TopK, options.TopP, options.RepetitionPenalty));
        Assert.Equal([5, 6], options.StopTokenIds);
    }

    [Fact]
    public void Absent_keys_take_hugging_faces_defaults_and_do_sample_false_is_greedy()
    {
        var sampling = GenerationDefaults.Load(Folder("""{"do_sample": true, "eos_token_id": 2}""")).ToOptions(128);
        Assert.Equal((128, 1.0, 50, 1.0, 1.0), (sampling.MaxTokens, sampling.Temperature, sampling.TopK, sampling.TopP, sampling.RepetitionPenalty));
        Assert.Equal([2], sampling.StopTokenIds);

        Assert.Equal(0, GenerationDefaults.Load(Folder("""{"temperature": 0.6, "top_p": 0.9}""")).ToOptions(128).Temperature);
        Assert.Equal(GenerationDefaults.HuggingFace, GenerationDefaults.Load(Folder(null)));
        var none = GenerationDefaults.HuggingFace.ToOptions(128);
        Assert.Equal((0.0, 1.0, 50, 1.0), (none.Temperature, none.RepetitionPenalty, none.TopK, none.TopP));
    }

    [Fact]
    public void A_wrong_value_names_the_file_and_key()
    {
        var dir = Folder("""{"top_k": "many"}""");
        var e = Assert.Throws<InvalidDataException>(() => GenerationDefaults.Load(dir));
        Assert.Contains("generation_config.json", e.Message);
        Assert.Contains("top_k", e.Message);
        Assert.Contains("top_p", Assert.Throws<InvalidDataException>(() => GenerationDefaults.Load(Folder("""{"top_p": 0}"""))).Message);
    }

    [Fact]
    public void What_substrate_saves_reads_back_as_greedy_ending_at_the_models_eos()
    {
        using var tiny = TinyModel.Create();
        using var model = new LlamaForCausalLM(tiny.Config with { EosTokenId = 257 });
        var dir = Folder(null);
        ModelFolder.Save(model, dir);
        var saved = GenerationDefaults.Load(dir);
        Assert.False(saved.DoSample);
        Assert.Equal([257], saved.EosTokenIds);
        Assert.Equal(0, saved.ToOptions(128).Temperature);
    }

    /// <summary>Without a generation_config.json, temperature 0 is plain greedy: no repetition penalty, the argmax of the
    /// model's logits at every step — what Hugging Face and llama.cpp do with the same weights.</summary>
    [Fact]
    public void Without_a_generation_config_temperature_0_is_a_plain_argmax_loop()
    {
        using var model = TinyModel.Create(maxPositions: 64);
        var prompt = new ByteTokenizer().Encode("abab abab abab", addSpecialTokens: true);
        var options = GenerationDefaults.Load(Folder(null)).ToOptions(128) with { Temperature = 0, MaxTokens = 40 };
        var generated = new TokenGenerator(model).Generate(prompt, options).ToArray();

        var sequence = prompt.ToList();
        for (var step = 0; step < generated.Length; step++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var input = tensor(sequence.Select(i => (long)i).ToArray(), [1, sequence.Count]);
            sequence.Add((int)model.call(input)[0, -1].argmax().item<long>());
        }
        Assert.Equal(40, generated.Length);
        Assert.Equal(sequence.Skip(prompt.Length), generated);
        // The old default penalty (1.1) is not greedy: on this prompt it picks other tokens.
        Assert.NotEqual(generated, new TokenGenerator(model).Generate(prompt, options with { RepetitionPenalty = 1.1 }).ToArray());
    }
}
