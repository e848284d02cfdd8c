"""The Models page's five tabs, one module each; each module's ``draw`` draws its tab."""
