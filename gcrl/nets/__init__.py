"""Networks: MLPs, pixel encoders, and the value, actor and goal-representation heads."""
