// autograd/optim.h — Adam with parameter groups (PyTorch semantics; one fused kernel per tensor).
//
// Each group has its own learning rate. step() updates every parameter that has a gradient, then
// leaves the gradients in place (zero_grad() drops them). Sparse-row mode: set_active_rows(p, rows)
// restricts the next step of p to those rows (its first dim), so rows that took no part in a step keep
// their value and their moments — the seed's dense Adam drifted inactive identity codes on momentum.
// The per-parameter step count t advances only for updated rows' tensors (bias correction uses it).
//
//   ff::Adam opt({{"codes", {codes}, 1e-3}, {"generator", gen_params, 2e-3}}, {.eps = 1e-15});
//   opt.zero_grad(); ff::backward(loss); opt.step();
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/kernels.h"

namespace ff {

struct ParamGroup {
  std::string name;
  std::vector<Tensor> params;
  double lr = 1e-3;
};

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class Adam {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions opt = {});
  void step();
  void zero_grad();
  void set_active_rows(const Tensor& param, const Tensor& rows);  // cleared after each step
  void set_lr(const std::string& group, double lr);
  double lr(const std::string& group) const;

  // state, for checkpoints: per parameter (in group order) m, v and its step count
  struct State {
    Tensor m, v;
    int64_t step = 0;
  };
  std::vector<ParamGroup>& groups() { return groups_; }
  std::vector<State>& state() { return state_; }
  const AdamOptions& options() const { return opt_; }

 private:
  std::vector<ParamGroup> groups_;
  AdamOptions opt_;
  std::vector<State> state_;
  std::map<const TensorImpl*, Tensor> active_rows_;
};

}  // namespace ff
