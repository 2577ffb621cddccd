using System.Text.Encodings.Web;
using System.Text.Json;

namespace Substrate.Agents.Evaluation;

/// <summary>The JSON options of task and training files: characters as they are ("+", "'"), not \u escapes.</summary>
static class ToolTaskJson
{
    public static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static readonly JsonWriterOptions Writer = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
