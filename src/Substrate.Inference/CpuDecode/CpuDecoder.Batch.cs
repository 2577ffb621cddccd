namespace Substrate.Inference.CpuDecode;

/// <summary>
/// The batched forward: N tokens in one pass over the weights, each token (a row) with its own KV-cache slot and position —
/// a prompt chunk (one slot, consecutive positions: causal attention over the cache and the chunk's earlier rows) or one
/// row per active sequence (serving). Each matrix job multiplies all N rows by a chunk of weight rows
/// (<see cref="CpuQuantMatMul"/>), so the weights stream from memory once per forward, not once per token. Every row runs
/// exactly the arithmetic of <see cref="Step"/> (the same kernels, in the same order), so its logits equal the
/// token-by-token ones bit for bit. The jobs: norm + quantize the N rows; q/k/v per head; attention per (row, head);
/// o_proj; norm + quantize; gate/up; quantize; down; and the head for the rows whose logits are asked for.
/// </summary>
public sealed unsafe partial class CpuDecoder
{
    /// <summary>Tokens of a prompt per batched forward: enough rows to read each weight row once for many tokens, few enough
    /// that a chunk's activations stay in cache.</summary>
    public const int PrefillChunk = 64;

    private Batch? batch;

    /// <summary>Buffers for up to Capacity rows, and the rows of the forward running.</summary>
    private sealed class Batch
    {
        public int Capacity, Widest;
        public float* X;          // (C, H) the residual streams
        public float* Normed;     // (C, H)
        public float* Qkv;        // (C, nH·hd + 2·nKv·hd)
        public float* Attended;   // (C, nH·hd)
        public float* Mlp;        // (C, I) gate, then act(gate)·up
        public float* Up;         // (C, I)
        public float* Branch;     // (C, H) with post norms
        public float* Product;    // (C, H)
        public float* PackedA, PackedB, PackedC; // (C, widest) each: a row packed or quantized for up to three matrices
        public nint* InputA, InputB, InputC;     // (C) what row i's dot products with each matrix read
        public int[] Slots = [], Positions = []; // (C)
        public int Rows, LogitsFrom;              // the forward's rows; rows [LogitsFrom, Rows) get logits
        public float* Logits;                     // (Rows − LogitsFrom, V)
        // The current prepare job: rows [First, Rows) of Source (stride SourceStride), normed by Norm when given.
        public float[]? Norm;
        public float* Source;
        public int SourceStride, First;
        public WeightMatrix A, B, C;
        public Action<int, int> Prepare = null!, AttentionInput = null!, Attention = null!, AttentionOutput = null!;
        public Action<int, int> MlpInput = null!, MlpOutput = null!, Head = null!;
    }

    /// <summary>Runs N tokens (<paramref name="tokens"/>[i] at <paramref name="positions"/>[i] of cache slot
    /// <paramref name="slots"/>[i]) in one pass, keeps their keys/values, and writes each row's next-token logits into
    /// <paramref name="output"/> (N, V). Rows of one slot must have distinct positions; a row sees its slot's cache up to its
    /// own position, so earlier positions must be filled (by earlier forwards or rows of this one).
    /// N is at most max(<see cref="PrefillChunk"/>, <see cref="Slots"/>). Does not move <see cref="Length"/>.</summary>
    public void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> slots, ReadOnlySpan<int> positions, Span<float> output)
    {
        if (output.Length < (long)tokens.Length * vocab)
            throw new ArgumentException($"output holds {output.Length} logits; {tokens.Length} rows need {tokens.Length * (long)vocab}", nameof(output));
        Run(tokens, slots, positions, output, tokens.Length);
    }

    /// <summary>Prefills <paramref name="tokens"/> into cache slot <paramref name="slot"/> at positions [position,
    /// position + count), <see cref="PrefillChunk"/> at a time, and writes the logits after the last into
    /// <paramref name="output"/> (V).</summary>
    public void Prefill(int slot, int position, IReadOnlyList<int> tokens, Span<float> output)
    {
        if (tokens.Count == 0) throw new ArgumentException("the prompt is empty", nameof(tokens));
        if (output.Length < vocab) throw new ArgumentException($"output holds {output.Length} logits; the vocabulary has {vocab}", nameof(output));
        var n = Math.Min(PrefillChunk, tokens.Count);
        Span<int> ids = stackalloc int[n], slotIds = stackalloc int[n], places = stackalloc int[n];
        slotIds.Fill(slot);
        for (var start = 0; start < tokens.Count; start += n)
        {
            var rows = Math.Min(n, tokens.Count - start);
            for (var i = 0; i < rows; i++) (ids[i], places[i]) = (tokens[start + i], position + start + i);
            Run(ids[..rows], slotIds[..rows], places[..rows], output, start + rows == tokens.Count ? 1 : 0); // logits of the last only
        }
    }

    /// <summary>Copies positions [0, <paramref name="length"/>) of cache slot <paramref name="from"/> into slot
    /// <paramref name="to"/> (a scheduler closing the hole a finished sequence left).</summary>
    public void CopySlot(int from, int to, int length)
    {
        if ((uint)from >= (uint)Slots || (uint)to >= (uint)Slots || (uint)length > (uint)maxLength)
            throw new ArgumentOutOfRangeException(nameof(length), $"slots {from} → {to} of {Slots}, {length} positions of {maxLength}");
        for (var l = 0; l < weights.Layers.Count; l++)
            for (var h = 0; h < kvHeads; h++)
            {
                var offset = (((long)l * kvHeads + h) * maxLength) * headDim;
                foreach (var cache in new[] { (nint)keys, (nint)values })
                    new ReadOnlySpan<float>((float*)cache + from * slotFloats + offset, length * headDim)
                        .CopyTo(new Span<float>((float*)cache + to * slotFloats + offset, length * headDim));
            }
    }

    private void PrefillChunks(IReadOnlyList<int> prompt, Span<float> output)
    {
        Prefill(0, Length, prompt, output);
        Length += prompt.Count;
    }

    /// <summary>The forward of N rows; the last <paramref name="logitRows"/> rows get logits (0, 1 or N).</summary>
    private void Run(ReadOnlySpan<int> tokens, ReadOnlySpan<int> slots, ReadOnlySpan<int> positions, Span<float> output, int logitRows)
    {
        ObjectDisposedException.ThrowIf(allocations.Count == 0, this); // the buffers are freed
        var b = batch ??= CreateBatch();
        var n = tokens.Length;
        if (n == 0 || slots.Length != n || positions.Length != n)
            throw new ArgumentException($"a forward needs as many slots ({slots.Length}) and positions ({positions.Length}) as tokens ({n}), at least one");
        if (n > b.Capacity) throw new ArgumentException($"{n} rows exceed the batched forward's {b.Capacity}", nameof(tokens));
        for (var i = 0; i < n; i++)
        {
            if ((uint)tokens[i] >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[i]} is outside [0, {vocab})");
            if ((uint)slots[i] >= (uint)Slots) throw new ArgumentOutOfRangeException(nameof(slots), $"slot {slots[i]} is outside [0, {Slots})");
            if ((uint)positions[i] >= (uint)maxLength)
                throw new InvalidOperationException($"the CPU decoder's context is full: position {positions[i]} is past its {maxLength} positions");
            (b.Slots[i], b.Positions[i]) = (slots[i], positions[i]);
            Embed(tokens[i], b.X + (long)i * hidden);
        }
        b.Rows = n;
        fixed (float* o = output)
        {
            for (layer = 0; layer < weights.Layers.Count; layer++) RunLayer(b, weights.Layers[layer]);
            if (logitRows == 0) return;
            b.Logits = o;
            b.LogitsFrom = n - logitRows;
            PrepareRows(b, weights.FinalNorm, b.X, hidden, weights.Head, weights.Head, weights.Head, n - logitRows);
            Job("head " + weights.Head.Format, Chunks(weights.Head), b.Head);
            b.Logits = null;
        }
    }

    private void RunLayer(Batch b, CpuDecoderWeights.Layer w)
    {
        PrepareRows(b, w.InputNorm, b.X, hidden, w.Q, w.K, w.V);
        Job("q/k/v " + w.Q.Format + "/" + w.K.Format + "/" + w.V.Format, heads + 2 * kvHeads, b.AttentionInput);
        Job("attention", b.Rows * heads, b.Attention);
        PrepareRows(b, null, b.Attended, heads * headDim, w.O, w.O, w.O);
        Job("o " + w.O.Format, Chunks(w.O), b.AttentionOutput);
        if (w.PostFeedforwardNorm is not null)
            for (var i = 0; i < b.Rows; i++) AddNormed(w.PostAttentionNorm, b.X + (long)i * hidden, b.Branch + (long)i * hidden);
        if (w.Experts is { } experts) RunExpertRows(b, w, experts);
        else
        {
            PrepareRows(b, w.PreFeedforwardNorm ?? w.PostAttentionNorm, b.X, hidden, w.Gate, w.Up, w.Up);
            Job("gate/up " + w.Gate.Format + "/" + w.Up.Format, Chunks(w.Gate), b.MlpInput);
            PrepareRows(b, null, b.Mlp, intermediate, w.Down, w.Down, w.Down);
            Job("down " + w.Down.Format, Chunks(w.Down), b.MlpOutput);
        }
        if (w.PostFeedforwardNorm is { } post)
            for (var i = 0; i < b.Rows; i++) AddNormed(post, b.X + (long)i * hidden, b.Branch + (long)i * hidden);
    }

    /// <summary>A mixture-of-experts MLP over the rows: each row routes to its own experts, so each runs the batch-1 step
    /// (<see cref="RunExperts"/>, on the residual buffer x (H)) — the same arithmetic as <see cref="Step"/>, row by row.</summary>
    private void RunExpertRows(Batch b, CpuDecoderWeights.Layer w, CpuDecoderExperts experts)
    {
        for (var i = 0; i < b.Rows; i++)
        {
            var row = new Span<float>(b.X + (long)i * hidden, hidden);
            row.CopyTo(new Span<float>(x, hidden));
            RunExperts(w, experts);
            new ReadOnlySpan<float>(x, hidden).CopyTo(row);
        }
    }

    /// <summary>Rows [first, N) of <paramref name="source"/> (normed by <paramref name="norm"/> when given) made into the inputs
    /// of matrices a, b, c (packed for bf16, quantized for blocks; shared where the formats agree), a row per chunk.</summary>
    private void PrepareRows(Batch b, float[]? norm, float* source, int stride, in WeightMatrix a, in WeightMatrix bm, in WeightMatrix c, int first = 0)
    {
        b.Source = source;
        (b.Norm, b.SourceStride, b.First, b.A, b.B, b.C) = (norm, stride, first, a, bm, c);
        Job(norm is null ? "quantize rows" : "norm + quantize rows", b.Rows - first, b.Prepare);
    }

    /// <summary>pool.Run, timed by <see cref="CpuDecoderProfile"/> when it is on.</summary>
    private void Job(string name, int chunks, Action<int, int> work)
    {
        if (!CpuDecoderProfile.Enabled)
        {
            pool.Run(chunks, work);
            return;
        }
        var start = CpuDecoderProfile.Start();
        pool.Run(chunks, work);
        CpuDecoderProfile.Add(name, start);
    }

    private void BatchPrepare(int worker, int chunk)
    {
        var b = batch!;
        var i = b.First + chunk;
        var input = b.Source + (long)i * b.SourceStride;
        if (b.Norm is not null)
        {
            var normed = b.Normed + (long)i * hidden;
            CpuKernels.RmsNorm(input, Pin(b.Norm), normed, hidden, eps);
            input = normed;
        }
        var row = (long)i * b.Widest;
        var first = (nint)CpuKernels.Input(b.A, input, b.PackedA + row);
        var second = b.B.Format == b.A.Format ? first : (nint)CpuKernels.Input(b.B, input, b.PackedB + row);
        var third = b.C.Format == b.A.Format ? first : b.C.Format == b.B.Format ? second : (nint)CpuKernels.Input(b.C, input, b.PackedC + row);
        (b.InputA[i], b.InputB[i], b.InputC[i]) = (first, second, third);
    }

    /// <summary>Head unit u (q heads, k heads, v heads, as <see cref="AttentionInput"/>) for all rows: one pass over its
    /// hd weight rows, then each row's head finished at its own slot and position.</summary>
    private void BatchAttentionInput(int worker, int u)
    {
        var b = batch!;
        var w = weights.Layers[layer];
        var row = (float*)scratch[worker].Row;
        var (matrix, first) = u < heads ? (w.Q, u) : u < heads + kvHeads ? (w.K, u - heads) : (w.V, u - heads - kvHeads);
        var inputs = u < heads ? b.InputA : u < heads + kvHeads ? b.InputB : b.InputC;
        var stride = (heads + 2 * kvHeads) * headDim;
        CpuQuantMatMul.MatMul(matrix, first * headDim, (first + 1) * headDim, inputs, b.Rows, b.Qkv + (long)u * headDim, stride, row);
        for (var i = 0; i < b.Rows; i++) FinishHead(u, b.Qkv + (long)i * stride + (long)u * headDim, row, b.Slots[i], b.Positions[i]);
    }

    /// <summary>One (row, query head) of attention: unit = row · nH + head.</summary>
    private void BatchAttention(int worker, int unit)
    {
        var b = batch!;
        var (i, h) = (unit / heads, unit % heads);
        var q = b.Qkv + (long)i * (heads + 2 * kvHeads) * headDim + (long)h * headDim;
        Attend(h, q, b.Attended + ((long)i * heads + h) * headDim, (float*)scratch[worker].Scores, b.Slots[i], b.Positions[i]);
    }

    private void BatchAttentionOutput(int worker, int chunk) => BatchAddProduct(weights.Layers[layer].O, worker, chunk);

    private void BatchMlpOutput(int worker, int chunk) => BatchAddProduct(weights.Layers[layer].Down, worker, chunk);

    /// <summary>Each row's x (or branch, with post norms) += a chunk of rows of its input · Wᵀ.</summary>
    private void BatchAddProduct(in WeightMatrix w, int worker, int chunk)
    {
        var b = batch!;
        var (start, end) = Rows(w, chunk);
        CpuQuantMatMul.MatMul(w, start, end, b.InputA, b.Rows, b.Product + start, hidden, (float*)scratch[worker].Row);
        var target = weights.Layers[layer].PostFeedforwardNorm is null ? b.X : b.Branch;
        for (var i = 0; i < b.Rows; i++)
            for (var r = start; r < end; r++) target[(long)i * hidden + r] += b.Product[(long)i * hidden + r];
    }

    /// <summary>Each row's mlp = act(norm(x)·Wgateᵀ) · (norm(x)·Wupᵀ), a chunk of rows of gate and up.</summary>
    private void BatchMlpInput(int worker, int chunk)
    {
        var b = batch!;
        var w = weights.Layers[layer];
        var (start, end) = Rows(w.Gate, chunk);
        var row = (float*)scratch[worker].Row;
        CpuQuantMatMul.MatMul(w.Gate, start, end, b.InputA, b.Rows, b.Mlp + start, intermediate, row);
        CpuQuantMatMul.MatMul(w.Up, start, end, b.InputB, b.Rows, b.Up + start, intermediate, row);
        for (var i = 0; i < b.Rows; i++)
            for (var r = start; r < end; r++)
            {
                var at = (long)i * intermediate + r;
                b.Mlp[at] = Activation(b.Mlp[at]) * b.Up[at];
            }
    }

    /// <summary>Logits of rows [LogitsFrom, N), a chunk of the head's rows.</summary>
    private void BatchHead(int worker, int chunk)
    {
        var b = batch!;
        var (start, end) = Rows(weights.Head, chunk);
        CpuQuantMatMul.MatMul(weights.Head, start, end, b.InputA + b.LogitsFrom, b.Rows - b.LogitsFrom, b.Logits + start, vocab,
            (float*)scratch[worker].Row);
    }

    private Batch CreateBatch()
    {
        var capacity = Math.Max(PrefillChunk, Slots);
        var widest = Math.Max(Math.Max(hidden, heads * headDim), intermediate);
        long Rows(int width) => (long)capacity * width;
        return new Batch
        {
            Capacity = capacity, Widest = widest,
            X = Allocate(Rows(hidden)), Normed = Allocate(Rows(hidden)), Qkv = Allocate(Rows((heads + 2 * kvHeads) * headDim)),
            Attended = Allocate(Rows(heads * headDim)), Mlp = Allocate(Rows(intermediate)), Up = Allocate(Rows(intermediate)),
            Branch = Allocate(Rows(hidden)), Product = Allocate(Rows(hidden)),
            PackedA = Allocate(Rows(widest)), PackedB = Allocate(Rows(widest)), PackedC = Allocate(Rows(widest)),
            InputA = (nint*)Allocate(Rows(2)), InputB = (nint*)Allocate(Rows(2)), InputC = (nint*)Allocate(Rows(2)), // 8-byte pointers
            Slots = new int[capacity], Positions = new int[capacity],
            Prepare = BatchPrepare, AttentionInput = BatchAttentionInput, Attention = BatchAttention,
            AttentionOutput = BatchAttentionOutput, MlpInput = BatchMlpInput, MlpOutput = BatchMlpOutput, Head = BatchHead,
        };
    }
}
