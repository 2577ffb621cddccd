using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>The precision a recipe computes in: fp32 throughout, or mixed (fp32 master weights, bf16 matrix products).
/// The config keys <c>dtype</c> and <c>base_dtype</c> spell it "float32" / "bfloat16".</summary>
public enum ComputePrecision
{
    [JsonStringEnumMemberName("float32")] Float32,
    [JsonStringEnumMemberName("bfloat16")] BFloat16,
}

public static class ComputePrecisionExtensions
{
    public static ScalarType ToScalarType(this ComputePrecision precision) =>
        precision == ComputePrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
}
