#include "autograd/optim.h"

namespace ff {

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions opt) : groups_(std::move(groups)), opt_(opt) {
  for (auto& g : groups_)
    for (auto& p : g.params) {
      FF_CHECK(p.defined() && is_floating(p.dtype()) && p.is_contiguous(), "Adam: group '", g.name,
               "' has an undefined, non-floating or non-contiguous parameter ", p.str());
      FF_CHECK(p.is_leaf(), "Adam: group '", g.name, "' has a non-leaf parameter ", p.str());
      state_.push_back({zeros_like(p), zeros_like(p), 0});
    }
}

void Adam::step() {
  size_t k = 0;
  for (auto& g : groups_)
    for (auto& p : g.params) {
      State& s = state_[k++];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      FF_CHECK(grad.shape() == p.shape(), "Adam: gradient ", grad.shape(), " for parameter ", p.shape());
      s.step++;
      kernels::AdamParams ap{g.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay, s.step};
      auto it = active_rows_.find(p.impl_ptr().get());
      if (it != active_rows_.end()) kernels::adam_step_rows(p, grad.contiguous(), s.m, s.v, it->second, ap);
      else kernels::adam_step(p, grad.contiguous(), s.m, s.v, ap);
    }
  active_rows_.clear();
}

void Adam::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Adam::set_active_rows(const Tensor& param, const Tensor& rows) { active_rows_[param.impl_ptr().get()] = rows; }

void Adam::set_lr(const std::string& group, double lr) {
  for (auto& g : groups_)
    if (g.name == group) {
      g.lr = lr;
      return;
    }
  FF_THROW("Adam::set_lr: no parameter group named '", group, "'");
}

double Adam::lr(const std::string& group) const {
  for (auto& g : groups_)
    if (g.name == group) return g.lr;
  FF_THROW("Adam::lr: no parameter group named '", group, "'");
}

}  // namespace ff
