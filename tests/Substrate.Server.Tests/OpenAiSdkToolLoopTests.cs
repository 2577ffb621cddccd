using System.ClientModel;
using System.Data;
using System.Globalization;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Substrate.Inference.Serving;

namespace Substrate.Server.Tests;

/// <summary>
/// The official OpenAI .NET SDK's manual tool loop (its documented pattern: CompleteChat with a function tool, read
/// ToolCalls, run the tool, send a ToolChatMessage, repeat until the finish reason is Stop) against <c>substrate serve</c>
/// over a model that learned to use a calculator (<see cref="ToolCallingModel"/>): any agent framework that speaks
/// OpenAI can drive a Substrate model.
/// </summary>
[Trait("Category", "Integration")]
public class OpenAiSdkToolLoopTests
{
    [Theory]
    [InlineData("What is 6 * 7?", "6 * 7", "42")]
    [InlineData("What is 3 * 15?", "3 * 15", "45")]
    public async Task The_sdk_tool_loop_calls_the_calculator_and_answers_from_its_result(string question, string expression, string result)
    {
        var (folder, _) = ToolCallingModel.Folder;
        using var engine = InferenceEngine.Load(folder, "tool");
        await using var server = SubstrateServer.Create(engine, new ServerOptions
        {
            Urls = ["http://127.0.0.1:0"], ApiKeys = ["k"], DataDir = Path.Combine(folder, "data"),
        });
        await server.StartAsync();
        var chat = new OpenAIClient(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = new Uri(new Uri(server.Urls[0]), "/v1") })
            .GetChatClient("tool");
        var calculator = ChatTool.CreateFunctionTool("calculator", ToolCallingModel.CalculatorDescription,
            BinaryData.FromString(ToolCallingModel.CalculatorSchema));
        var options = new ChatCompletionOptions { Tools = { calculator }, Temperature = 0, MaxOutputTokenCount = 64 };
        List<ChatMessage> messages = [new UserChatMessage(question)];
        var evaluated = new List<string>();
        string? answer = null;
        for (var round = 0; round < 4 && answer is null; round++)
        {
            ChatCompletion completion = await chat.CompleteChatAsync(messages, options);
            switch (completion.FinishReason)
            {
                case ChatFinishReason.ToolCalls:
                    messages.Add(new AssistantChatMessage(completion));
                    foreach (var call in completion.ToolCalls)
                    {
                        Assert.Equal("calculator", call.FunctionName);
                        using var arguments = JsonDocument.Parse(call.FunctionArguments);
                        var text = arguments.RootElement.GetProperty("expression").GetString()!;
                        evaluated.Add(text);
                        messages.Add(new ToolChatMessage(call.Id, Evaluate(text)));
                    }
                    break;
                case ChatFinishReason.Stop:
                    answer = completion.Content[0].Text;
                    break;
                default:
                    Assert.Fail($"unexpected finish reason {completion.FinishReason} after {ToolCallingModel.Folder.Steps} training steps: " +
                        $"'{completion.Content.FirstOrDefault()?.Text}'");
                    break;
            }
        }
        Assert.Equal([expression], evaluated);
        Assert.Equal(ToolCallingModel.Answer(result), answer?.Trim());
    }

    /// <summary>The client's own calculator (the tool runs on the client's side of the loop).</summary>
    static string Evaluate(string expression) =>
        Convert.ToString(new DataTable().Compute(expression, null), CultureInfo.InvariantCulture)!;
}
