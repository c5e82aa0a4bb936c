using System.Text;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SemCache.CacheServer;

/// <summary>/healthz's and /readyz's body: the status, then one line per check that is not healthy, with its reason.</summary>
internal static class HealthReportWriter
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var text = new StringBuilder(report.Status.ToString()).Append('\n');
        foreach ((string name, HealthReportEntry entry) in report.Entries)
        {
            if (entry.Status != HealthStatus.Healthy)
            {
                text.Append(name).Append(": ").Append(entry.Status).Append(", ").Append(entry.Description ?? "no reason given").Append('\n');
            }
        }

        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text.ToString(), context.RequestAborted);
    }
}
