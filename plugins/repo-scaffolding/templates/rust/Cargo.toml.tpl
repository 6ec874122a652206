[package]
name = "[[ crateName ]]"
version = "0.1.0"
edition = "2024"
description = "The [[ appName ]] web service"

# No dependencies: the service builds offline with the standard library alone.
[dependencies]
