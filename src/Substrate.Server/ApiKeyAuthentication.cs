using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Substrate.Server;

/// <summary>
/// Bearer API keys as an ASP.NET Core authentication scheme. Authorization runs on the endpoint routing resolved (never
/// on a path prefix, which routing matches case-insensitively and a check may not): the fallback policy requires an
/// authenticated caller on every endpoint, so a new endpoint is protected unless it opts out with <c>AllowAnonymous()</c>
/// (only /health and /metrics do). With no keys configured every caller is authenticated.
/// </summary>
public sealed class ApiKeyAuthentication(IOptionsMonitor<ApiKeyAuthentication.KeyOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<ApiKeyAuthentication.KeyOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    public sealed class KeyOptions : AuthenticationSchemeOptions
    {
        public IReadOnlyList<string> Keys { get; set; } = [];
    }

    /// <summary>Registers the scheme with <paramref name="keys"/> and makes "authenticated" the policy of every endpoint.</summary>
    public static void AddTo(IServiceCollection services, IReadOnlyList<string> keys)
    {
        services.AddAuthentication(SchemeName).AddScheme<KeyOptions, ApiKeyAuthentication>(SchemeName, o => o.Keys = keys);
        services.AddAuthorizationBuilder().SetFallbackPolicy(new AuthorizationPolicyBuilder(SchemeName).RequireAuthenticatedUser().Build());
    }

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string key = "";
        if (Options.Keys.Count > 0)
        {
            var header = Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return Task.FromResult(AuthenticateResult.NoResult());
            key = header[7..].Trim();
            var presented = key;
            if (!Options.Keys.Any(k => FixedTimeEquals(k, presented))) return Task.FromResult(AuthenticateResult.Fail("invalid API key"));
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "api-client"), new Claim(OwnerClaim, OwnerOf(key))], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <summary>The claim naming who owns what a caller creates (files, vector stores): <see cref="OwnerOf"/> its key.</summary>
    public const string OwnerClaim = "substrate:owner";

    /// <summary>The owner a key stands for: the SHA-256 of the key (hex), so records never hold a key. Without keys
    /// configured every caller is the owner of the empty key.</summary>
    public static string OwnerOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The authenticated caller's owner hash.</summary>
    public static string Owner(Microsoft.AspNetCore.Http.HttpContext context) =>
        context.User.FindFirst(OwnerClaim)?.Value ?? throw new InvalidOperationException("the request was not authenticated by the API key scheme");

    /// <summary>401 with OpenAI's error body.</summary>
    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        ErrorBody.Write(Context, new ApiException(401, "invalid or missing API key (Authorization: Bearer <key>)", code: "invalid_api_key"));

    private static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
