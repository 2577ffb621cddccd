using System.Globalization;

namespace Substrate.Interop.Gguf;

/// <summary>The type tag of a GGUF metadata value (gguf_type), as stored in the file.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// One typed GGUF metadata value. Scalars are held as their .NET type (byte, sbyte, ushort, short,
/// uint, int, float, bool, string, ulong, long, double); an array as a .NET array of its element type
/// (<see cref="ElementType"/> says which). Nested arrays are not supported (llama.cpp rejects them too).
/// </summary>
public sealed record GgufValue
{
    private GgufValue(GgufValueType type, object value, GgufValueType elementType = default)
    {
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    public GgufValueType Type { get; }

    /// <summary>The element type when <see cref="Type"/> is Array.</summary>
    public GgufValueType ElementType { get; }

    public object Value { get; }

    public static GgufValue UInt8(byte v) => new(GgufValueType.UInt8, v);
    public static GgufValue Int8(sbyte v) => new(GgufValueType.Int8, v);
    public static GgufValue UInt16(ushort v) => new(GgufValueType.UInt16, v);
    public static GgufValue Int16(short v) => new(GgufValueType.Int16, v);
    public static GgufValue UInt32(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Int32(int v) => new(GgufValueType.Int32, v);
    public static GgufValue Float32(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Bool(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue String(string v) => new(GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)));
    public static GgufValue UInt64(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue Int64(long v) => new(GgufValueType.Int64, v);
    public static GgufValue Float64(double v) => new(GgufValueType.Float64, v);

    /// <summary>An array; <paramref name="items"/> must be an array of the .NET type of <paramref name="elementType"/>.</summary>
    public static GgufValue Array(GgufValueType elementType, System.Array items)
    {
        if (elementType == GgufValueType.Array) throw new NotSupportedException("nested GGUF arrays are not supported");
        var expected = ClrType(elementType);
        if (items.GetType().GetElementType() != expected)
            throw new ArgumentException($"a GGUF {elementType} array must be a {expected.Name}[], not {items.GetType().Name}", nameof(items));
        return new(GgufValueType.Array, items, elementType);
    }

    public static GgufValue Array(string[] items) => Array(GgufValueType.String, items);
    public static GgufValue Array(int[] items) => Array(GgufValueType.Int32, items);
    public static GgufValue Array(float[] items) => Array(GgufValueType.Float32, items);

    /// <summary>The .NET type that holds a scalar of <paramref name="type"/>.</summary>
    public static Type ClrType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new NotSupportedException($"GGUF value type {type} has no scalar .NET type"),
    };

    /// <summary>Size in bytes of a fixed-size scalar (0 for String and Array).</summary>
    public static int ScalarSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    public string AsString() => Value as string ?? throw new InvalidDataException($"GGUF value is {Describe()}, not a string");

    public bool AsBool() => Value is bool b ? b : throw new InvalidDataException($"GGUF value is {Describe()}, not a bool");

    /// <summary>Any integer type, checked to fit in a long.</summary>
    public long AsInt64() => Value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v, long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => throw new InvalidDataException($"GGUF value is {Describe()}, not an integer"),
    };

    /// <summary>Any numeric type as a double.</summary>
    public double AsDouble() => Value switch
    {
        float v => v, double v => v,
        byte or sbyte or ushort or short or uint or int or long or ulong => Convert.ToDouble(Value, CultureInfo.InvariantCulture),
        _ => throw new InvalidDataException($"GGUF value is {Describe()}, not a number"),
    };

    /// <summary>The array's items, which must be of .NET type <typeparamref name="T"/>.</summary>
    public T[] AsArray<T>() =>
        Value as T[] ?? throw new InvalidDataException($"GGUF value is {Describe()}, not an array of {typeof(T).Name}");

    /// <summary>An integer array of any element type, widened to long.</summary>
    public long[] AsInt64Array()
    {
        if (Type != GgufValueType.Array || ScalarSize(ElementType) == 0 || ElementType is GgufValueType.Float32 or GgufValueType.Float64 or GgufValueType.Bool)
            throw new InvalidDataException($"GGUF value is {Describe()}, not an integer array");
        var items = (System.Array)Value;
        var result = new long[items.Length];
        for (int i = 0; i < result.Length; i++) result[i] = Convert.ToInt64(items.GetValue(i), CultureInfo.InvariantCulture);
        return result;
    }

    public string Describe() => Type == GgufValueType.Array
        ? $"array of {((System.Array)Value).Length} {ElementType}"
        : Type == GgufValueType.String ? $"string \"{Truncate((string)Value)}\"" : $"{Type} {Convert.ToString(Value, CultureInfo.InvariantCulture)}";

    public override string ToString() => Describe();

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
