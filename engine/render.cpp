#include "engine/render.h"

#include <string_view>

namespace converge {
namespace {
const char* kReset = "\033[0m";
const char* color_of(Action a) {
  switch (a) {
    case Action::kCreate:
      return "\033[32m";
    case Action::kUpdate:
      return "\033[33m";
    case Action::kDelete:
      return "\033[31m";
    case Action::kBlocked:
      return "\033[35m";
    default:
      return "";
  }
}
}  // namespace

std::string action_symbol(Action a) {
  switch (a) {
    case Action::kCreate:
      return "+";
    case Action::kUpdate:
      return "~";
    case Action::kDelete:
      return "-";
    case Action::kBlocked:
      return "!";
    case Action::kNoop:
      return " ";
  }
  return "?";
}

std::string render_summary_line(const PlanSummary& s) {
  return "Plan: " + std::to_string(s.create) + " to create, " + std::to_string(s.update) +
         " to update, " + std::to_string(s.del) + " to delete, " + std::to_string(s.noop) +
         " unchanged, " + std::to_string(s.blocked) + " blocked.";
}

std::string render_plan(const Plan& plan, const RenderOptions& opt) {
  // Appended in place: a plan of many thousands of creates is printed before they are applied.
  std::string out;
  auto paint = [&](Action a, std::string_view s) {
    const char* c = opt.color ? color_of(a) : "";
    out += c;
    out += s;
    if (*c) out += kReset;
  };
  for (const auto& n : plan.notes) out.append("note: ").append(n).append("\n");
  bool any = false;
  std::string text;
  for (const auto& r : plan.resources) {
    if (r.action == Action::kNoop && !opt.show_noop && !r.deferred) continue;
    if (!any) out += "\nconverge will perform these actions:\n";
    any = true;
    out += "\n  ";
    text.assign(r.deferred ? std::string("?") : action_symbol(r.action)).append(" ").append(r.id);
    paint(r.action, text);
    if (r.action == Action::kBlocked) paint(r.action, "  (blocked)");
    if (r.restart_required) out += "  (restart required)";
    if (!r.cause.empty()) out.append("  (").append(r.cause).append(")");
    out += "\n";
    if (!r.reason.empty() &&
        (r.action == Action::kBlocked || r.action == Action::kDelete || r.deferred))
      out.append("      # ").append(r.reason).append("\n");
    if (r.action == Action::kBlocked && r.blocked_by.size() > 1) {
      out += "      # blocked by:";
      for (const auto& b : r.blocked_by) out.append(" ").append(b);
      out += "\n";
    }
    size_t width = 0;
    for (const auto& c : r.changes) width = std::max(width, c.attr.size());
    for (const auto& c : r.changes) {
      bool added =
          r.action == Action::kCreate || (r.action == Action::kBlocked && c.before.is_null());
      out += "      ";
      paint(added ? Action::kCreate : Action::kUpdate, added ? "+" : "~");
      out.append(" ").append(c.attr).append(width - c.attr.size(), ' ').append(" = ");
      if (!added) out.append(c.before.repr()).append(" -> ");
      if (c.sensitive)
        out += "(sensitive)";
      else
        out += c.after.repr();
      out += "\n";
    }
  }
  if (!any) out += "\nNo changes. The environment matches the manifest.\n";
  out.append("\n").append(render_summary_line(plan.summary())).append("\n");
  return out;
}

std::string render_apply_summary(const ApplySummary& s) {
  return "Apply: " + std::to_string(s.applied) + " applied, " + std::to_string(s.failed) +
         " failed, " + std::to_string(s.skipped) + " skipped, " + std::to_string(s.blocked) +
         " blocked, " + std::to_string(s.noop) + " unchanged.";
}

}  // namespace converge
