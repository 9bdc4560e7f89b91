//! Mark-0's parameters as typed fields, read from the registry at genesis and after
//! every applied command (string lookups stay out of the hot loops).

use crate::registry::Registry;

/// Below this, the Taylor response counts as off (the authors' `ZERO`).
const OFF: f64 = 1e-10;

#[derive(Debug, Clone, Default)]
pub(super) struct Params {
    pub hiring_firing_ratio: f64,
    pub firing_propensity: f64,
    pub price_adjustment: f64,
    pub wage_adjustment: f64,
    pub wage_indexation: f64,
    pub bankruptcy_threshold: f64,
    pub revival_probability: f64,
    pub dividend_share: f64,
    pub fragility_sensitivity: f64,
    pub fragility_floor: f64,
    pub initial_production: f64,
    pub sim_reduction: bool,
    pub exact_profit_ties: bool,
    pub propensity_income: f64,
    pub propensity_wealth: f64,
    pub real_rate_sensitivity: f64,
    pub beta: f64,
    pub tau_measured: f64,
    pub tau_target: f64,
    pub memory: f64,
    pub policy_rate: f64,
    pub default_cost_share: f64,
    pub inflation_response: f64,
    pub inflation_target: f64,
    pub income_tax: f64,
    pub corporate_tax: f64,
    pub benefit_ratio: f64,
    pub spending: f64,
}

impl Params {
    pub fn from_registry(r: &Registry) -> Self {
        Self {
            hiring_firing_ratio: r.f64("firms.hiring_firing_ratio"),
            firing_propensity: r.f64("firms.firing_propensity"),
            price_adjustment: r.f64("firms.price_adjustment"),
            wage_adjustment: r.f64("firms.wage_price_adjustment_ratio") * r.f64("firms.price_adjustment"),
            wage_indexation: r.f64("firms.wage_indexation"),
            bankruptcy_threshold: r.f64("firms.bankruptcy_threshold"),
            revival_probability: r.f64("firms.revival_probability"),
            dividend_share: r.f64("firms.dividend_share"),
            fragility_sensitivity: r.f64("firms.fragility_sensitivity"),
            fragility_floor: r.f64("firms.fragility_floor"),
            initial_production: r.f64("firms.initial_production"),
            sim_reduction: r.flag("firms.sim_reduction"),
            exact_profit_ties: r.flag("firms.exact_profit_ties"),
            propensity_income: r.f64("households.propensity_to_consume_income"),
            propensity_wealth: r.f64("households.propensity_to_consume_wealth"),
            real_rate_sensitivity: r.f64("households.real_rate_sensitivity"),
            beta: r.f64("households.price_sensitivity"),
            tau_measured: r.f64("households.expectation_weight_measured"),
            tau_target: r.f64("households.expectation_weight_target"),
            memory: r.f64("economy.memory"),
            policy_rate: r.f64("bank.policy_rate"),
            default_cost_share: r.f64("bank.default_cost_share"),
            inflation_response: r.f64("bank.inflation_response"),
            inflation_target: r.f64("bank.inflation_target"),
            income_tax: r.f64("government.income_tax_rate"),
            corporate_tax: r.f64("government.corporate_tax_rate"),
            benefit_ratio: r.f64("government.unemployment_benefit_ratio"),
            spending: r.f64("government.spending_per_tick"),
        }
    }

    /// The hiring propensity η₀⁺ = R·η₀⁻.
    pub fn hiring_propensity(&self) -> f64 {
        self.hiring_firing_ratio * self.firing_propensity
    }

    /// The authors' code ignores the inflation target when the central bank does not
    /// respond to inflation (φπ = 0): π* = 0 and τT = 0 then.
    pub fn effective_pi_target(&self) -> f64 {
        if self.inflation_response < OFF { 0.0 } else { self.inflation_target }
    }

    /// See [`Params::effective_pi_target`].
    pub fn effective_tau_target(&self) -> f64 {
        if self.inflation_response < OFF { 0.0 } else { self.tau_target }
    }
}
