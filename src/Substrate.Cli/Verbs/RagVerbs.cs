using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Substrate.Inference.DotNetAI;
using Substrate.Inference.Serving;
using Substrate.Retrieval;
using Substrate.Retrieval.Answering;
using Substrate.Retrieval.Chunking;
using Substrate.Retrieval.Documents;
using Substrate.Retrieval.Embeddings;
using Substrate.Retrieval.Evaluation;
using Substrate.Retrieval.Indexing;
using Substrate.Retrieval.Store;

namespace Substrate.Cli.Verbs;

/// <summary><c>substrate rag index | search | ask | eval</c>: retrieval-augmented generation over a folder of documents.</summary>
public static class RagVerbs
{
    // Each command gets its own option objects (a System.CommandLine symbol has one parent).
    static Option<string> Store() => new("--store") { Description = "The SQLite store file.", Required = true };
    static Option<string?> Embedder() => new("--embedder")
        { Description = $"'{RagEmbedder.MiniLm}' (all-MiniLM-L6-v2) or a Substrate model folder (default for index: minilm; else the store's)." };
    static Option<string> Mode() => new("--mode") { Description = "hybrid, vector or bm25.", DefaultValueFactory = _ => "hybrid" };

    /// <summary>JSON lines keep text readable: "a > b", "it's" as they are.</summary>
    static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Build() => new("rag", "Retrieval-augmented generation: index documents, search them, answer from them.")
    {
        BuildIndex(), BuildSearch(), BuildAsk(), BuildEval(),
    };

    static Command BuildIndex()
    {
        var docs = new Option<string[]>("--docs")
        {
            Description = "Folders and files (.txt .md .html .pdf .docx .jsonl, .gz of .txt/.jsonl).", Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var chunkTokens = new Option<int>("--chunk-tokens") { Description = "Most WordPiece tokens a chunk holds.", DefaultValueFactory = _ => 200 };
        var overlap = new Option<int>("--overlap") { Description = "Tokens a chunk repeats from the one before.", DefaultValueFactory = _ => 32 };
        Option<string> store = Store();
        Option<string?> embedderSpec = Embedder();
        var command = new Command("index", "Index new and changed documents into the store and drop deleted ones; prints one JSON line.")
            { docs, store, embedderSpec, chunkTokens, overlap };
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            DocumentReader.Expand(parsed.GetValue(docs)!);   // a wrong path fails before the store file is made
            using var chunks = ChunkStore.Open(parsed.GetValue(store)!);
            using var embedder = RagEmbedder.Open(parsed.GetValue(embedderSpec) ?? chunks.Embedding?.Model ?? RagEmbedder.MiniLm);
            const int miniLmChunk = MiniLmEmbeddingGenerator.MaxTokens - 2;   // [CLS] and [SEP] take two
            if (embedder.Generator is MiniLmEmbeddingGenerator && parsed.GetValue(chunkTokens) > miniLmChunk)
                throw new ArgumentException($"--chunk-tokens {parsed.GetValue(chunkTokens)}: MiniLM reads at most {miniLmChunk} tokens a chunk");
            var wordPiece = MiniLmEmbeddingGenerator.LoadTokenizer();
            var chunker = new TextChunker(text => wordPiece.Encode(text).Count, parsed.GetValue(chunkTokens), parsed.GetValue(overlap));
            var indexer = new DocumentIndexer(chunks, chunker, embedder.Generator);
            var report = Terminal.WithProgress("index", report => indexer.IndexAsync(parsed.GetValue(docs)!,
                p => report($"{p.Done}/{p.Total} {Path.GetFileName(p.Path)}: {p.Status}", p.Fraction), cancellation).GetAwaiter().GetResult());
            foreach (var (_, error) in report.Failed) Console.Error.WriteLine($"error: skipped {error}");
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                added = report.Added, changed = report.Changed, unchanged = report.Unchanged, removed = report.Removed, chunks = report.Chunks,
                total_chunks = chunks.ChunkCount(), failed = report.Failed.Select(f => new { path = f.Path, error = f.Error }),
            }, Json));
            return 0;
        });
        return command;
    }

    static Command BuildSearch()
    {
        var query = new Argument<string>("query") { Description = "What to look for." };
        var top = new Option<int>("--top") { Description = "How many chunks to retrieve.", DefaultValueFactory = _ => 5 };
        var pathPrefix = new Option<string?>("--path-prefix") { Description = "Only chunks of documents whose full path starts so." };
        Option<string> storeFile = Store(), mode = Mode();
        Option<string?> embedderSpec = Embedder();
        var command = new Command("search", "Rank the store's chunks for a query; prints one JSON line a chunk, best first.")
            { query, storeFile, embedderSpec, top, mode, pathPrefix };
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            var searchMode = ParseMode(parsed.GetValue(mode)!);
            using var store = ChunkStore.Open(parsed.GetValue(storeFile)!, create: false);
            using var embedder = RagEmbedder.ForStore(store, parsed.GetValue(embedderSpec));
            var hits = await new ChunkRetriever(store, embedder?.Generator).SearchAsync(parsed.GetValue(query)!, parsed.GetValue(top),
                searchMode, parsed.GetValue(pathPrefix), cancellation);
            foreach (var hit in hits)
                Console.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    rank = hit.Rank, score = hit.Score, path = hit.Chunk.Path, position = hit.Chunk.Position, id = hit.Chunk.Id, text = hit.Chunk.Text,
                }, Json));
            return 0;
        });
        return command;
    }

    static Command BuildAsk()
    {
        var question = new Argument<string>("question") { Description = "The question." };
        var model = new Option<string>("--model") { Description = "A model folder.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A PEFT LoRA adapter folder to apply on top of the model." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "At most this many answer tokens.", DefaultValueFactory = _ => 256 };
        var temperature = new Option<double>("--temperature") { Description = "0 is greedy.", DefaultValueFactory = _ => 0 };
        var seed = new Option<long?>("--seed") { Description = "Seed for sampling." };
        var top = new Option<int>("--top") { Description = "How many chunks go into the prompt.", DefaultValueFactory = _ => 3 };
        var sourceChars = new Option<int>("--source-chars")
            { Description = "Characters of each chunk the prompt shows (a small model's context is short).", DefaultValueFactory = _ => 1200 };
        var runtime = new ModelOptionFlags();
        Option<string> storeFile = Store(), mode = Mode();
        Option<string?> embedderSpec = Embedder();
        var command = new Command("ask", "Answer a question from the store's top chunks; streams the answer, then lists the sources it cites.")
            { question, storeFile, model, adapter, embedderSpec, top, sourceChars, mode, maxTokens, temperature, seed };
        runtime.AddTo(command);
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            using var store = ChunkStore.Open(parsed.GetValue(storeFile)!, create: false);
            using var embedder = RagEmbedder.ForStore(store, parsed.GetValue(embedderSpec));
            var folder = parsed.GetValue(model)!;
            var baseName = Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/'));
            var adapterDir = parsed.GetValue(adapter);
            using var engine = InferenceEngine.Load(folder, baseName, runtime.StartInference(parsed, folder),
                adapterDir is null ? null : [("adapter", adapterDir)]);
            using var chat = new SubstrateChatClient(engine, adapterDir is null ? null : baseName + ":adapter");
            var answerer = new RagAnswerer(chat, new ChunkRetriever(store, embedder?.Generator), parsed.GetValue(top), ParseMode(parsed.GetValue(mode)!),
                parsed.GetValue(sourceChars));
            var options = new ChatOptions
            {
                MaxOutputTokens = parsed.GetValue(maxTokens), Temperature = (float)parsed.GetValue(temperature), Seed = parsed.GetValue(seed),
            };
            var answer = await answerer.AskAsync(parsed.GetValue(question)!, text => { Console.Out.Write(text); Console.Out.Flush(); }, options, cancellation);
            Console.Out.WriteLine();
            Console.Out.WriteLine();
            bool citedNone = RagAnswerer.Citations(answer.Text).All(n => n < 1 || n > answer.Sources.Count);
            Console.Out.WriteLine(citedNone ? "Sources (none cited; all retrieved):" : "Sources:");
            foreach (var source in answer.Cited)
                Console.Out.WriteLine($"[{source.Number}] {source.Chunk.Path}" + (source.Chunk.Position.Length > 0 ? $" ({source.Chunk.Position})" : "")
                    + $": {source.Snippet()}");
            return 0;
        });
        return command;
    }

    static Command BuildEval()
    {
        var questions = new Option<string>("--questions")
            { Description = "JSON lines {\"question\", \"answer\"}: the answer is text the gold chunk contains.", Required = true };
        var modes = new Option<string>("--modes") { Description = "Comma-separated: vector, bm25, hybrid.", DefaultValueFactory = _ => "vector,bm25,hybrid" };
        Option<string> storeFile = Store();
        Option<string?> embedderSpec = Embedder();
        var command = new Command("eval", "Recall@1/5/10 and MRR of each search mode on a question set; one JSON line a mode.")
            { storeFile, questions, modes, embedderSpec };
        command.SetAction(async (ParseResult parsed, CancellationToken cancellation) =>
        {
            using var store = ChunkStore.Open(parsed.GetValue(storeFile)!, create: false);
            using var embedder = RagEmbedder.ForStore(store, parsed.GetValue(embedderSpec));
            var retriever = new ChunkRetriever(store, embedder?.Generator);
            var set = RetrievalEvaluation.Read(parsed.GetValue(questions)!);
            foreach (var mode in parsed.GetValue(modes)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ParseMode))
            {
                var scores = await RetrievalEvaluation.EvaluateAsync(set, (q, k) => retriever.SearchAsync(q, k, mode, cancellationToken: cancellation));
                Console.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    mode = mode.ToString().ToLowerInvariant(), questions = scores.Questions, recall_at_1 = Math.Round(scores.RecallAt1, 4),
                    recall_at_5 = Math.Round(scores.RecallAt5, 4), recall_at_10 = Math.Round(scores.RecallAt10, 4), mrr = Math.Round(scores.Mrr, 4),
                    embedder = store.Embedding?.Model,
                }, Json));
            }
            return 0;
        });
        return command;
    }

    static SearchMode ParseMode(string mode) => mode.ToLowerInvariant() switch
    {
        "hybrid" => SearchMode.Hybrid,
        "vector" => SearchMode.Vector,
        "bm25" => SearchMode.Bm25,
        _ => throw new ArgumentException($"--mode must be hybrid, vector or bm25, got '{mode}'"),
    };
}
