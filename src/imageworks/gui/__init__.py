"""The Streamlit front end (the guide's Models page); it sits on the CLI's own services."""
