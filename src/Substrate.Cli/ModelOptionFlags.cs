using System.CommandLine;
using Substrate.Models;
using Substrate.Nn;
using TorchSharp;

namespace Substrate.Cli;

/// <summary>The runtime flags every verb that runs a model takes: --device, --dtype, --threads.</summary>
public sealed class ModelOptionFlags
{
    public readonly Option<string> Device = new("--device") { Description = "cpu, cuda, cuda:1.", DefaultValueFactory = _ => "cpu" };
    public readonly Option<string> Dtype = new("--dtype")
    {
        Description = "Compute dtype: auto, float32 or bfloat16. auto: inference computes in the dtype the weights are stored in "
            + "(bf16 → bfloat16; fp32 and fp16 → float32), as llama.cpp and torch_dtype=\"auto\" do; training in float32. "
            + "Training keeps fp32 master weights; inference keeps the stored dtype whatever the compute dtype.",
        DefaultValueFactory = _ => "auto",
    };
    public readonly Option<int> Threads = ThreadsOption();

    /// <summary>The most threads --threads takes: ggml's GGML_MAX_N_THREADS. Beyond it a typo (--threads 20000) would start
    /// that many OS threads before anything ran.</summary>
    public const int MaxThreads = 512;

    /// <summary>--threads, for every verb that takes it: 0 (one per core) … <see cref="MaxThreads"/>, checked as the command line
    /// is parsed, so a bad value is one error line before any model or data is read.</summary>
    public static Option<int> ThreadsOption()
    {
        var option = new Option<int>("--threads") { Description = "libtorch threads (0: one per core)." };
        option.Validators.Add(result =>
        {
            var threads = result.GetValueOrDefault<int>();
            if (threads is < 0 or > MaxThreads) result.AddError($"--threads must be 0 (one per core) to {MaxThreads}, got {threads}");
        });
        return option;
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(Dtype);
        command.Options.Add(Threads);
    }

    /// <summary>For verbs that run a model folder for inference (generate, chat, eval, serve, …), once, as they start: the
    /// process runtime (--threads; freed native memory goes back to the system, <see cref="NativeMemory.ReturnFreedMemory"/>)
    /// and the model options, --dtype auto resolved from <paramref name="modelFolder"/>'s stored dtype.</summary>
    public ModelOptions StartInference(ParseResult parsed, string modelFolder)
    {
        ProcessRuntime.Configure(new RuntimeSettings(parsed.GetValue(Threads), RetainFreedMemory: false));
        return Options(parsed, () => StoredDtype(modelFolder) == torch.ScalarType.BFloat16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32);
    }

    /// <summary>The folder's stored dtype; Float32 where the folder cannot say (missing, no weights): its loader, which runs
    /// next, names what is wrong.</summary>
    private static torch.ScalarType? StoredDtype(string folder)
    {
        try
        {
            return ModelFolder.StoredDtype(folder);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>For verbs that train (adapt), once, as they start: the process runtime (--threads; freed native memory kept
    /// for reuse) and the model options, --dtype auto being float32.</summary>
    public ModelOptions StartTraining(ParseResult parsed)
    {
        ProcessRuntime.Configure(new RuntimeSettings(parsed.GetValue(Threads)));
        return Options(parsed, () => torch.ScalarType.Float32);
    }

    /// <summary>One line for stderr: the runtime an inference verb runs with and where its dtype came from.</summary>
    public string Describe(ParseResult parsed, ModelOptions options)
    {
        var dtype = options.ComputeDtype == torch.ScalarType.BFloat16 ? "bfloat16" : "float32";
        var source = parsed.GetValue(Dtype) == "auto" ? "auto: the weights' stored dtype" : "--dtype";
        var threads = ProcessRuntime.Current is { Threads: > 0 } current ? $"{current.Threads}" : $"{Environment.ProcessorCount} (one per core)";
        return $"runtime: {options.Device}, compute {dtype} ({source}), threads {threads}";
    }

    private ModelOptions Options(ParseResult parsed, Func<torch.ScalarType> auto)
    {
        var dtype = parsed.GetValue(Dtype) switch
        {
            "auto" => auto(),
            "float32" or "fp32" => torch.ScalarType.Float32,
            "bfloat16" or "bf16" => torch.ScalarType.BFloat16,
            var other => throw new ArgumentException($"--dtype must be auto, float32 or bfloat16, got '{other}'"),
        };
        return new ModelOptions { Device = torch.device(parsed.GetValue(Device)!), ComputeDtype = dtype };
    }
}
