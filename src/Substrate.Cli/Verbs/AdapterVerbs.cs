using System.CommandLine;
using System.Text.Json;
using Substrate.Models;
using Substrate.Models.Lora;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate adapter merge</c>: fold a LoRA adapter into its base and write a plain model folder.</summary>
public static class AdapterVerbs
{
    public static Command Build() => new("adapter", "Work with LoRA adapters (PEFT folders).") { BuildMerge() };

    static Command BuildMerge()
    {
        var model = new Option<string>("--model") { Description = "The base model folder.", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "A PEFT LoRA adapter folder made for this base.", Required = true };
        var output = new Option<string>("--out") { Description = "The merged model folder to write.", Required = true };
        var dtype = new Option<string>("--save-dtype") { Description = "Weights dtype: float32 or bfloat16.", DefaultValueFactory = _ => "float32" };
        var command = new Command("merge", "Write a plain model whose outputs equal base + adapter (W ← W + α/r · B·A).")
        {
            model, adapter, output, dtype,
        };
        command.SetAction((ParseResult parsed) =>
        {
            string baseDir = parsed.GetValue(model)!, adapterDir = parsed.GetValue(adapter)!, outDir = parsed.GetValue(output)!;
            var saveDtype = parsed.GetValue(dtype) switch
            {
                "float32" or "fp32" => TorchSharp.torch.ScalarType.Float32,
                "bfloat16" or "bf16" => TorchSharp.torch.ScalarType.BFloat16,
                var other => throw new ArgumentException($"--save-dtype must be float32 or bfloat16, got '{other}'"),
            };
            if (Path.GetFullPath(outDir) == Path.GetFullPath(baseDir)) throw new ArgumentException("--out must differ from --model (the base stays as it is)");
            using var lora = LoraModel.Load(baseDir);
            var config = lora.LoadAdapter("merge", adapterDir);
            long adapterParameters = lora.AdapterParameterCount("merge");
            lora.Merge("merge");
            ModelFolder.Save(lora.Model, outDir, saveDtype);
            foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
                if (File.Exists(Path.Combine(baseDir, file))) File.Copy(Path.Combine(baseDir, file), Path.Combine(outDir, file), overwrite: true);
            Terminal.Info(Spectre.Console.Markup.Escape(
                $"adapter merge: r = {config.R}, alpha = {config.LoraAlpha}, targets [{string.Join(", ", config.TargetModules)}], "
                + $"{adapterParameters:N0} adapter parameters folded into {lora.Model.ParameterCount():N0}"));
            Console.Out.WriteLine(JsonSerializer.Serialize(
                new { merged = outDir, r = config.R, lora_alpha = config.LoraAlpha, adapter_parameters = adapterParameters }));
            return 0;
        });
        return command;
    }
}
