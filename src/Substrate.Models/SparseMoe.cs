using Substrate.Nn;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Substrate.Models;

// The sparse MLP of a mixture-of-experts decoder (Mixtral's block_sparse_moe, Qwen MoE's mlp). Shapes: B batch, T positions,
// N = B·T tokens, H hidden_size, E experts, k experts per token, I' the expert width.

/// <summary>One expert, a SwiGLU MLP under its family's names: down(silu(gate(x)) · up(x)) (Mixtral: w2(silu(w1 x) · w3 x)).</summary>
public sealed class SparseMoeExpert : nn.Module<Tensor, Tensor>
{
    // gate (I', H), up (I', H), down (H, I'): registered by hand under the family's names, kept out of fields so that
    // RegisterComponents (which a parent's registration runs on its children) cannot register them again under the field names.
    private readonly nn.Module<Tensor, Tensor>[] projections;

    public SparseMoeExpert(ExpertNames names, int hiddenSize, int width, ILinearFactory factory, string path) : base(nameof(SparseMoeExpert))
    {
        projections = [factory.Create($"{path}.{names.Gate}", hiddenSize, width), factory.Create($"{path}.{names.Up}", hiddenSize, width),
            factory.Create($"{path}.{names.Down}", width, hiddenSize)];
        register_module(names.Gate, projections[0]);
        register_module(names.Up, projections[1]);
        register_module(names.Down, projections[2]);
    }

    public override Tensor forward(Tensor x) // (n, H) → (n, H) in x's dtype
    {
        using var scope = NewDisposeScope();
        var (gate, up, down) = (projections[0], projections[1], projections[2]);
        return down.call(F.silu(gate.call(x)) * up.call(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The router logits of the sparse layers in a model's last forward, (N, E) each, kept for the training losses
/// (<see cref="LlamaForCausalLM.RouterLoss"/>) and the expert counts; recorded while gradients are on, or always with
/// <see cref="RecordWithoutGradients"/>. Owned by the model, cleared at the start of every forward.
/// </summary>
public sealed class RouterRecord : IDisposable
{
    private readonly List<Tensor> logits = [];

    /// <summary>Also record in inference (no_grad) forwards, e.g. to count tokens per expert on validation text.</summary>
    public bool RecordWithoutGradients { get; set; }

    public IReadOnlyList<Tensor> Logits => logits;

    internal void Add(Tensor routerLogits)
    {
        if (!is_grad_enabled() && !RecordWithoutGradients) return;
        logits.Add(routerLogits.DetachFromDisposeScope());
    }

    internal void Clear()
    {
        foreach (var t in logits) t.Dispose();
        logits.Clear();
    }

    public void Dispose() => Clear();
}

/// <summary>
/// Top-k mixture of experts: a router <c>gate</c> (E, H) scores every expert, each token goes to its k best
/// (<see cref="ExpertRouting.Route"/>), each expert runs only on the tokens routed to it (<see cref="ExpertRouting.Dispatch"/>),
/// and the outputs are summed with the routing weights. Qwen2-MoE adds sigmoid(shared_expert_gate(x)) · shared_expert(x).
/// </summary>
public sealed class SparseMoe : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> gate;            // weight (E, H): the router
    private readonly ModuleList<SparseMoeExpert> experts;       // E experts
    private readonly LlamaMlp? shared_expert;                   // the shared expert (Qwen2-MoE), shared_expert_intermediate_size wide
    private readonly nn.Module<Tensor, Tensor>? shared_expert_gate; // weight (1, H)
    private readonly int topK;
    private readonly bool renormalize;
    private readonly RouterRecord? record;
    private readonly LoraRouter? adapters; // LoRA: which adapter each batch row uses (serving mixes them in one batch)

    public SparseMoe(ModelConfig config, ModelOptions options, string path, RouterRecord? record) : base(nameof(SparseMoe))
    {
        var names = config.Family?.Experts ?? throw new ArgumentException($"model_type '{config.ModelType}' has no experts");
        var f = options.LinearFactory;
        gate = f.Create($"{path}.gate", config.HiddenSize, config.ExpertCount);
        experts = new ModuleList<SparseMoeExpert>();
        for (int e = 0; e < config.ExpertCount; e++)
            experts.Add(new SparseMoeExpert(names, config.HiddenSize, config.ExpertIntermediateSize, f, $"{path}.experts.{e}"));
        if (config.SharedExpertSize > 0)
        {
            shared_expert = new LlamaMlp(config with { IntermediateSize = config.SharedExpertSize }, options, $"{path}.shared_expert");
            shared_expert_gate = f.Create($"{path}.shared_expert_gate", config.HiddenSize, 1);
        }
        (topK, renormalize, this.record) = (config.ExpertsPerToken, config.RenormalizeTopK, record);
        adapters = (f as LoraLinearFactory)?.Router;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, H) → (B, T, H), in x's dtype
    {
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, x.shape[^1]);                                      // (N, H)
        // A batch mixing adapters names one per batch row (B); the flat tokens and each expert's rows need one per row of theirs.
        var batchRows = adapters?.Current.Rows;
        long T = x.shape[1];
        IDisposable? ForTokens(Tensor tokens) => batchRows is null ? null            // tokens (n) int64: indices into the N
            : adapters!.UseRows([.. tokens.cpu().data<long>().ToArray().Select(n => batchRows[n / T])]);
        using var allTokens = batchRows is null ? null : ForTokens(arange(flat.shape[0]));
        var logits = gate.call(flat);                                                // (N, E)
        record?.Add(logits);
        var (weights, chosen) = ExpertRouting.Route(logits, topK, renormalize, x.dtype); // (N, k) each
        var y = ExpertRouting.Dispatch(flat, weights, chosen, experts.Count, (e, rows, tokens) =>
        {
            using var expertTokens = ForTokens(tokens);
            return experts[e].call(rows);
        }); // (N, H)
        if (shared_expert is not null && shared_expert_gate is not null)
            y = y + F.sigmoid(shared_expert_gate.call(flat)) * shared_expert.call(flat); // (N, 1) · (N, H)
        return y.view(x.shape).MoveToOuterDisposeScope();
    }

    /// <summary>The reference: each token alone, its chosen experts in routing order, weighted and summed (a test's yardstick).</summary>
    public Tensor NaiveForward(Tensor x) // (B, T, H) → (B, T, H)
    {
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, x.shape[^1]);                                       // (N, H)
        var (weights, chosen) = ExpertRouting.Route(gate.call(flat), topK, renormalize, x.dtype);
        var rows = new List<Tensor>();
        for (long n = 0; n < flat.shape[0]; n++)
        {
            var token = flat.narrow(0, n, 1);                                        // (1, H)
            var sum = zeros_like(token);
            for (long j = 0; j < topK; j++)
                sum = sum + experts[(int)chosen[n, j].item<long>()].call(token) * weights[n, j];
            if (shared_expert is not null && shared_expert_gate is not null)
                sum = sum + F.sigmoid(shared_expert_gate.call(token)) * shared_expert.call(token);
            rows.Add(sum);
        }
        return cat(rows, 0).view(x.shape).MoveToOuterDisposeScope();
    }
}
