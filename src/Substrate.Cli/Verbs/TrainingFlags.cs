using System.CommandLine;

namespace Substrate.Cli.Verbs;

/// <summary>Flags that pretrain, finetune and align dpo share, defined once so they read the same in every verb's help.</summary>
static class TrainingFlags
{
    public static Option<bool> ShardOptimizer() => new("--shard-optimizer")
    {
        Description = "Under mpirun: split the AdamW moments of the trained parameters over the ranks (ZeRO stage 1); "
            + "same results, 1/N of the optimizer memory.",
    };
}
