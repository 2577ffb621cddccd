using Substrate.Data;
using Substrate.IO;
using Substrate.Inference;

namespace Substrate.Evaluation;

/// <summary>Perplexity of a model on held-out text: a split of a prepared data folder, or corpus files (documents separated
/// by EOS, as in pretraining).</summary>
public static class HeldOutPerplexity
{
    /// <summary><paramref name="maxTokens"/> &gt; 0 scores only the first that many tokens.</summary>
    public static PerplexityResult Evaluate(LoadedModel loaded, string data, string split, long maxTokens = 0, int? stride = null)
    {
        var tokens = ReadTokens(loaded, data, split);
        if (maxTokens > 0 && tokens.Count > maxTokens) tokens = tokens.GetRange(0, (int)maxTokens);
        if (tokens.Count < 2) throw new ArgumentException($"{data}: not enough tokens to evaluate ({tokens.Count})");
        return new PerplexityEvaluator(loaded.Model, stride: stride).Evaluate(tokens);
    }

    static List<int> ReadTokens(LoadedModel loaded, string data, string split)
    {
        if (Directory.Exists(data) && File.Exists(Path.Combine(data, TokenShardMeta.FileName)))
        {
            using var dataset = TokenDataset.Open(data, split);
            if (dataset.Meta.VocabSize > loaded.Model.Config.VocabSize)
                throw new ArgumentException($"{data} was tokenized with {dataset.Meta.VocabSize} tokens but the model has {loaded.Model.Config.VocabSize}");
            return dataset.ReadAll().Select(id => (int)id).ToList();
        }
        var tokens = new List<int>();
        int? eos = loaded.Tokenizer.Special.Eos;
        foreach (var document in CorpusFiles.ReadDocuments([data]))
        {
            tokens.AddRange(loaded.Tokenizer.Encode(document));
            if (eos is int id) tokens.Add(id);
        }
        return tokens;
    }
}
