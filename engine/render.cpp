#include "engine/render.h"

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
  std::string out;
  auto paint = [&](Action a, const std::string& s) {
    return opt.color && *color_of(a) ? std::string(color_of(a)) + s + kReset : s;
  };
  for (const auto& n : plan.notes) out += "note: " + n + "\n";
  bool any = false;
  for (const auto& r : plan.resources) {
    if (r.action == Action::kNoop && !opt.show_noop && !r.deferred) continue;
    if (!any) out += "\nconverge will perform these actions:\n";
    any = true;
    out += "\n  " +
           paint(r.action, (r.deferred ? std::string("?") : action_symbol(r.action)) + " " + r.id);
    if (r.action == Action::kBlocked) out += paint(r.action, "  (blocked)");
    if (r.restart_required) out += "  (restart required)";
    if (!r.cause.empty()) out += "  (" + r.cause + ")";
    out += "\n";
    if (!r.reason.empty() &&
        (r.action == Action::kBlocked || r.action == Action::kDelete || r.deferred))
      out += "      # " + r.reason + "\n";
    if (r.action == Action::kBlocked && r.blocked_by.size() > 1) {
      out += "      # blocked by:";
      for (const auto& b : r.blocked_by) out += " " + b;
      out += "\n";
    }
    size_t width = 0;
    for (const auto& c : r.changes) width = std::max(width, c.attr.size());
    for (const auto& c : r.changes) {
      std::string pad(width - c.attr.size(), ' ');
      std::string after = c.sensitive ? "(sensitive)" : c.after.repr();
      if (r.action == Action::kCreate || (r.action == Action::kBlocked && c.before.is_null()))
        out += "      " + paint(Action::kCreate, "+") + " " + c.attr + pad + " = " + after + "\n";
      else
        out += "      " + paint(Action::kUpdate, "~") + " " + c.attr + pad + " = " +
               c.before.repr() + " -> " + after + "\n";
    }
  }
  if (!any) out += "\nNo changes. The environment matches the manifest.\n";
  out += "\n" + render_summary_line(plan.summary()) + "\n";
  return out;
}

std::string render_apply_summary(const ApplySummary& s) {
  return "Apply: " + std::to_string(s.applied) + " applied, " + std::to_string(s.failed) +
         " failed, " + std::to_string(s.skipped) + " skipped, " + std::to_string(s.blocked) +
         " blocked, " + std::to_string(s.noop) + " unchanged.";
}

}  // namespace converge
