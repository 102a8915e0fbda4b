# terraform test with a mocked AWS provider: plans the global state of the
# three-region example (the DNS records and their IAM policy).

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# apply against the mocks: the record names are known only after it.
run "apply" {
  command = apply

  assert {
    condition     = length(output.dns_records.service) == 1 && output.dns_records.epoch != null && output.dns_policy_arn != ""
    error_message = "The global state must hold the service record, the epoch TXT record and the DNS policy."
  }
  assert {
    condition     = output.drctl_endpoints == "http://10.40.1.10:8001,http://10.40.2.10:8001,http://10.41.1.10:8001,http://10.41.2.10:8001,http://10.42.1.10:8001"
    error_message = "The global state names all five API endpoints, from the fixed addresses."
  }
}

run "unknown_primary_refused" {
  command = plan

  variables {
    primary_region = "eu-central"
  }

  expect_failures = [var.primary_region]
}
