"""Structure-property relations: regression with leave-one-out CV, feature-subset search, engineered features, SHAP."""
