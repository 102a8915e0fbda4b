# terraform test with mocked AWS providers: plans one pair's peering state
# of the three-region example. Each VPC and route table the region module
# built is found by its tags; a region with existing_network gives its ids.

mock_provider "aws" {
  alias = "requester"
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_vpc" {
    defaults = { id = "vpc-0eu" }
  }
  mock_data "aws_route_table" {
    defaults = { id = "rtb-0eu" }
  }
}

mock_provider "aws" {
  alias = "accepter"
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_vpc" {
    defaults = { id = "vpc-0us" }
  }
  mock_data "aws_route_table" {
    defaults = { id = "rtb-0us" }
  }
}

variables {
  cluster_name   = "cogitator-dr"
  primary_region = "eu-west"
  cluster_token  = "terraform-test-token-0123456789abcdef"
  region_a = {
    name         = "eu-west"
    aws_region   = "eu-west-1"
    vpc_cidr     = "10.40.0.0/16"
    subnet_cidrs = ["10.40.1.0/24", "10.40.2.0/24"]
    azs          = ["eu-west-1a", "eu-west-1b"]
    bucket       = "cogitator-dr-eu-west-backups"
    priority     = 100
    dns_targets  = ["203.0.113.10"]
    nodes = [
      { id = 1, subnet = 0, private_ip = "10.40.1.10" },
      { id = 2, subnet = 1, private_ip = "10.40.2.10" },
    ]
    app_cidrs = ["10.50.0.0/16"]
    services = {
      pg      = "hostaddr=10.50.1.20 port=5432 dbname=cogitator user=drnode_backup"
      redis   = "10.50.1.30:6379"
      app_url = "http://10.50.1.40:3000"
    }
  }
  region_b = {
    name         = "us-east"
    aws_region   = "us-east-1"
    vpc_cidr     = "10.41.0.0/16"
    subnet_cidrs = ["10.41.1.0/24", "10.41.2.0/24"]
    azs          = ["us-east-1a", "us-east-1b"]
    bucket       = "cogitator-dr-us-east-backups"
    priority     = 50
    dns_targets  = ["198.51.100.10"]
    nodes = [
      { id = 3, subnet = 0, private_ip = "10.41.1.10" },
      { id = 4, subnet = 1, private_ip = "10.41.2.10" },
    ]
  }
  region_c = {
    name         = "ap-south"
    aws_region   = "ap-south-1"
    vpc_cidr     = "10.42.0.0/16"
    subnet_cidrs = ["10.42.1.0/24"]
    azs          = ["ap-south-1a"]
    bucket       = "cogitator-dr-ap-south-backups"
    priority     = 10
    dns_targets  = ["192.0.2.10"]
    nodes = [
      { id = 5, subnet = 0, private_ip = "10.42.1.10" },
    ]
  }
  admin_cidrs         = ["10.8.0.0/16"]
  monitoring_cidrs    = ["10.9.0.0/24"]
  package_url         = "https://artifacts.example.com/drnode/drnode_0.2.0_amd64.deb"
  package_sha256      = "0000000000000000000000000000000000000000000000000000000000000000"
  dns_zone_id         = "Z0123456789EXAMPLE"
  service_names       = ["app.example.com"]
  service_record_type = "A"
  epoch_record_name   = "_dr-epoch.example.com"
}

run "eu_west_us_east" {
  command = plan

  variables {
    pair = ["eu-west", "us-east"]
  }

  assert {
    condition     = output.routes == { "rtb-0eu" = "10.41.0.0/16", "rtb-0us" = "10.40.0.0/16" }
    error_message = "Each side must route the other VPC's CIDR through the peering."
  }
  assert {
    condition     = data.aws_vpc.requester[0].tags["drnode:cluster"] == "cogitator-dr" && data.aws_vpc.requester[0].tags["drnode:region"] == "eu-west"
    error_message = "The requester's VPC is the one the region module tagged for eu-west."
  }
  assert {
    condition     = data.aws_vpc.accepter[0].tags["drnode:region"] == "us-east" && data.aws_route_table.requester[0].tags["drnode:region"] == "eu-west"
    error_message = "The accepter's VPC is the one tagged for us-east, the requester's route table the one for eu-west."
  }
  assert {
    condition     = data.aws_route_table.accepter[0].vpc_id == "vpc-0us" && data.aws_route_table.accepter[0].tags["drnode:region"] == "us-east"
    error_message = "The accepter's route table is the tagged one in us-east's VPC."
  }
}

# us-east brings its own network: its ids come from cluster.tfvars and
# nothing is looked up there.
run "existing_network" {
  command = plan

  variables {
    pair = ["eu-west", "us-east"]
    region_b = {
      name         = "us-east"
      aws_region   = "us-east-1"
      vpc_cidr     = "10.41.0.0/16"
      subnet_cidrs = ["10.41.1.0/24", "10.41.2.0/24"]
      azs          = ["us-east-1a", "us-east-1b"]
      bucket       = "cogitator-dr-us-east-backups"
      priority     = 50
      dns_targets  = ["198.51.100.10"]
      nodes = [
        { id = 3, subnet = 0, private_ip = "10.41.1.10" },
        { id = 4, subnet = 1, private_ip = "10.41.2.10" },
      ]
      existing_network = {
        vpc_id         = "vpc-0mine"
        subnet_ids     = ["subnet-01", "subnet-02"]
        route_table_id = "rtb-0mine"
      }
    }
  }

  assert {
    condition     = output.routes == { "rtb-0eu" = "10.41.0.0/16", "rtb-0mine" = "10.40.0.0/16" }
    error_message = "A region's existing_network route table gets the route."
  }
  assert {
    condition     = length(data.aws_vpc.accepter) == 0 && length(data.aws_route_table.accepter) == 0
    error_message = "Nothing is looked up in a region that brings its own network."
  }
}

run "same_region_twice_refused" {
  command = plan

  variables {
    pair = ["eu-west", "eu-west"]
  }

  expect_failures = [var.pair]
}
